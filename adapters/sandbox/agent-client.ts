import { request as httpRequest } from 'node:http';
import type * as z from '../../core/definitions/zod.ts';
import { errorMessage, SandboxCallError, SandboxUnavailableError, TransientError } from '../../core/errors.ts';
import { ErrorBody } from './protocol.ts';

/**
 * The broker's HTTP client for the sandbox agent inside a task (protocol.ts): one JSON
 * request, its failures mapped to core errors, its answer checked against the protocol.
 */

/** Where a sandbox's agent listens, cached until `expiresAt`. */
export interface Endpoint {
  taskArn: string;
  url: string;
  expiresAt: number;
}

/** Nothing was sent: safe to find the task again and retry. */
export class ConnectFailed extends Error {}

/** Connection failures that mean nothing was sent. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'EAI_AGAIN']);

export interface AgentRequest<T extends z.ZodMiniType> {
  /** Names the operation in error messages. */
  what: string;
  method: 'GET' | 'POST';
  path: string;
  body: unknown;
  schema: T;
  timeoutMs: number;
}

export async function requestAgent<T extends z.ZodMiniType>(
  endpoint: Endpoint,
  token: string,
  call: AgentRequest<T>,
): Promise<z.output<T>> {
  const { what, method, path, body, schema, timeoutMs } = call;
  let response: HttpAnswer;
  try {
    response = await httpJson(endpoint.url + path, method, { authorization: `Bearer ${token}` }, body, timeoutMs);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code && CONNECT_ERRORS.has(code)) throw new ConnectFailed(`${code} connecting to ${endpoint.url}`);
    if ((error as Error).name === 'TimeoutError')
      throw new SandboxCallError(`the sandbox agent did not answer ${what} within ${Math.round(timeoutMs / 1000)} s`);
    throw new TransientError(`the sandbox agent's connection failed during ${what}: ${code ?? errorMessage(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(response.text);
  } catch {
    throw new SandboxCallError(`the sandbox agent answered ${what} with HTTP ${response.status} and no JSON`);
  }
  if (!response.ok) {
    const failure = ErrorBody.safeParse(json);
    const message = failure.success ? failure.data.error.message : `HTTP ${response.status}`;
    if (response.status === 401 || response.status === 403) {
      throw new SandboxUnavailableError(
        `the sandbox agent refused the broker's credentials for ${what} (HTTP ${response.status}): the task was started with another signing key`,
      );
    }
    if (failure.success && failure.data.error.name === 'looprail.SandboxUnavailable')
      throw new SandboxUnavailableError(message);
    throw new SandboxCallError(response.status >= 500 ? `the sandbox agent failed on ${what}: ${message}` : message);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || '(answer)'}: ${issue.message}`)
      .join('; ');
    throw new SandboxCallError(`the sandbox agent's answer to ${what} is not what the protocol says (${issues})`);
  }
  return parsed.data;
}

/**
 * One JSON request to a sandbox agent over node:http. Not fetch: its client gives up
 * waiting for response headers after 300 s, and an exec may run for up to 840 s before
 * the agent answers. A connection that never opened rejects with the socket's own code
 * (ECONNREFUSED…), a request past `timeoutMs` with a TimeoutError.
 */
interface HttpAnswer {
  status: number;
  ok: boolean;
  text: string;
}

function httpJson(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: unknown,
  timeoutMs: number,
): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method,
      headers: {
        ...headers,
        ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
      },
      signal: AbortSignal.timeout(timeoutMs),
    });
    request.on('error', (error: Error & { code?: string }) => {
      if (error.name === 'AbortError')
        reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { name: 'TimeoutError' }));
      else reject(error);
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error) => reject(Object.assign(error, { code: 'ECONNRESET' })));
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.end(payload);
  });
}
