import {
  ConfigurationError,
  NotFoundError,
  SecretNotFoundError,
  ToolTimeoutError,
  ToolUnavailableError,
  ValidationError,
} from '../../core/errors.ts';
import type { ToolCallResult, ToolDescriptor } from '../../core/ports/tools.ts';
import * as z from '../../core/definitions/zod.ts';

/**
 * What the steps send an MCP host Lambda (functions/mcp/host.ts) with Lambda Invoke, and
 * what it answers: the same shapes the McpToolGateway returns for a server it spawns
 * itself. A failure travels as the error's name and message and is rebuilt as the same
 * class on the caller's side, so the state machine retries exactly what it would retry
 * locally (a missing program or secret is permanent; a dead server is ToolUnavailable).
 */

export const HostRequest = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('listTools') }),
  z.strictObject({
    op: z.literal('callTool'),
    name: z.string().check(z.minLength(1)),
    arguments: z._default(z.record(z.string(), z.unknown()), {}),
    /** The caller's timeout for this call; the host's own declaration timeout otherwise. */
    timeoutMs: z.optional(z.int().check(z.positive())),
  }),
]);
export type HostRequest = z.input<typeof HostRequest>;

export interface HostError {
  name: string;
  message: string;
}

export type HostResponse =
  | { ok: true; tools: ToolDescriptor[] }
  | { ok: true; result: Pick<ToolCallResult, 'content' | 'isError'> }
  | { ok: false; error: HostError };

/** The error classes that cross the boundary by name; anything else arrives as ToolUnavailable. */
const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  [new ToolUnavailableError('').name]: ToolUnavailableError,
  [new ToolTimeoutError('').name]: ToolTimeoutError,
  [new ConfigurationError('').name]: ConfigurationError,
  [new SecretNotFoundError('').name]: SecretNotFoundError,
  [new ValidationError('').name]: ValidationError,
  [new NotFoundError('').name]: NotFoundError,
};

export function encodeError(error: unknown): HostError {
  if (error instanceof Error && ERROR_CLASSES[error.name]) return { name: error.name, message: error.message };
  // An unexpected failure inside the host (a bug, the S3 state folder unreachable): the
  // server may well answer on the next try.
  const message = error instanceof Error ? error.message : String(error);
  return { name: new ToolUnavailableError('').name, message: `MCP host failed: ${message}` };
}

export function decodeError(error: HostError): Error {
  const Class = ERROR_CLASSES[error.name] ?? ToolUnavailableError;
  return new Class(error.message);
}

/** The host function names by server (`LOOPRAIL_MCP_HOSTS`): `{ "<server>": "<function name or ARN>" }`. */
export const McpHostNames = z.record(z.string().check(z.minLength(1)), z.string().check(z.minLength(1)));
export type McpHostNames = z.infer<typeof McpHostNames>;

/**
 * The server an MCP host serves (`LOOPRAIL_MCP_SERVER`), as the stack bundled it: the
 * declaration's stdio transport with its program and project paths pointing into the asset.
 */
const PositiveSeconds = z.number().check(z.positive());

export const HostedServer = z.strictObject({
  name: z.string().check(z.minLength(1)),
  /** The bundled server, relative to the asset's root (`server.mjs`). */
  program: z.string().check(z.minLength(1)),
  args: z._default(z.array(z.string()), []),
  env: z._default(z.record(z.string(), z.string()), {}),
  /** Variable → secret name; the host's role may read exactly these. */
  env_secrets: z._default(z.record(z.string(), z.string()), {}),
  cwd: z.optional(z.string()),
  /** Seconds, as declared. */
  timeouts: z.strictObject({ connect: z.optional(PositiveSeconds), call: z.optional(PositiveSeconds) }),
  /** Tools declared read_only: a call to one leaves the state folder unsaved. */
  read_only_tools: z._default(z.array(z.string()), []),
});
export type HostedServer = z.input<typeof HostedServer>;
