import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { errorMessage } from '../../core/errors.ts';

/** Telling the SDK's errors apart, and describing them in one readable line. */

/** Errors the SDK raises itself (timeouts, closed connections) rather than relays from the server. */
export function isLocalMcpError(error: McpError): boolean {
  return error.code === ErrorCode.RequestTimeout || error.code === ErrorCode.ConnectionClosed;
}

export function isConnectionClosed(error: unknown): boolean {
  return error instanceof McpError && error.code === ErrorCode.ConnectionClosed;
}

export function isTimeout(error: unknown): boolean {
  return (error instanceof McpError && error.code === ErrorCode.RequestTimeout) || error instanceof DeadlineError;
}

/** Unparseable JSON or a message that does not match the MCP schemas. */
export function isMalformed(error: unknown): boolean {
  return error instanceof SyntaxError || zodIssues(error) !== undefined;
}

/** The SDK validates messages with zod (v3 or v4-mini, whose error is named `$ZodError`). */
function zodIssues(error: unknown): Array<{ path: PropertyKey[]; message: string }> | undefined {
  if (!(error instanceof Error) || !/ZodError$/.test(error.name)) return undefined;
  const issues = (error as { issues?: unknown }).issues;
  return Array.isArray(issues) ? issues : undefined;
}

/** A zod error's message is a JSON dump of its issues; one line per issue reads better. */
export function describeMalformed(error: unknown): string {
  const issues = zodIssues(error);
  if (!issues) return firstLine(errorMessage(error));
  return issues.map((issue) => `${issue.path.map(String).join('.') || '(message)'}: ${issue.message}`).join('; ');
}

export function stripMcpPrefix(message: string): string {
  return message.replace(/^MCP error -?\d+: /, '');
}

/** Names the underlying cause: `fetch failed` alone says nothing, ECONNREFUSED does. */
export function describeCause(error: unknown): string {
  const parts = [firstLine(errorMessage(error))];
  let cause = error instanceof Error ? error.cause : undefined;
  for (let depth = 0; cause !== undefined && depth < 3; depth++) {
    const text = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
    if (text && !parts.includes(text)) parts.push(text);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && !parts.some((part) => part.includes(code))) parts.push(code);
  return parts.join(': ');
}

/** The program could not be started at all (not there, not executable): permanent, never worth a retry. */
export function isMissingProgram(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'EACCES';
}

export function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

export class DeadlineError extends Error {}

/** Rejects with DeadlineError after `ms`; the caller cleans up whatever was running. */
export async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`no answer within ${formatMs(ms)}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
