import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as z from '../../core/definitions/zod.ts';
import { SandboxUnavailableError } from '../../core/errors.ts';
import { SandboxCallError } from '../../adapters/sandbox/workspace.ts';

/** The sandbox agent's HTTP pieces: its routes, JSON bodies in and out, and errors as statuses. */

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, name: string, message: string) {
    super(message);
    this.status = status;
    this.name = name;
  }
}

export const badRequest = (message: string) => new HttpError(400, 'looprail.BadRequest', message);

export const Routes: Record<string, { method: 'GET' | 'POST'; op: string }> = {
  '/v1/health': { method: 'GET', op: 'health' },
  '/v1/init': { method: 'POST', op: 'init' },
  '/v1/exec': { method: 'POST', op: 'exec' },
  '/v1/read': { method: 'POST', op: 'read' },
  '/v1/write': { method: 'POST', op: 'write' },
  '/v1/list': { method: 'POST', op: 'list' },
  '/v1/diff': { method: 'POST', op: 'diff' },
  '/v1/scripts': { method: 'POST', op: 'script_start' },
};
export const RESULTS_ROUTE = /^\/v1\/scripts\/([^/]+)\/results$/;

export function parse<T extends z.ZodMiniType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  throw badRequest(`invalid request body: ${problems.join('; ')}`);
}

/** The body as JSON, refusing one over `limit` bytes (read to its end, so the answer reaches the client). */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const tooLarge = () => new HttpError(413, 'looprail.PayloadTooLarge', `the body is over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let bytes = 0;
  let over = declared > limit;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limit) over = true;
    if (!over) chunks.push(chunk);
  }
  if (over) throw tooLarge();
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw badRequest('the body is empty: expected a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest(`the body is not JSON: ${(error as Error).message}`);
  }
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function asHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof SandboxCallError) return new HttpError(422, error.name, error.message);
  if (error instanceof SandboxUnavailableError) return new HttpError(500, error.name, error.message);
  const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new HttpError(500, 'looprail.SandboxAgent', `the sandbox agent failed: ${detail}`);
}

export function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://agent').pathname;
  } catch {
    return '/';
  }
}

export function opOf(url: string | undefined): string {
  const path = pathOf(url);
  return Routes[path]?.op ?? (RESULTS_ROUTE.test(path) ? 'script_results' : 'unknown');
}
