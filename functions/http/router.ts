import { randomUUID } from 'node:crypto';
import { ConcurrencyLimitError, NotFoundError, ValidationError } from '../../core/errors.ts';
import * as z from '../../core/definitions/zod.ts';
import { jsonTextDepthProblem, MAX_BODY_DEPTH } from '../../core/limits/json-shape.ts';
import type { Logger } from '../../core/ports/logger.ts';
import type { HttpRequest, HttpResponse, RouteHandler } from './types.ts';

/**
 * A small router for the one HTTP app: `(method, '/v1/runs/:runId') → handler`, and every
 * failure as the same JSON problem, `{ error: { code, message, field? } }`. Unknown paths
 * answer 404, a known path with another method 405 with `Allow`. Errors a caller can act
 * on say what to fix; anything else is a 500 with a generic message and a request id, the
 * details going to the log only (never a stack in a response).
 */

export interface Problem {
  code: string;
  message: string;
  /** The request field at fault, as a dotted path (`agent`, `input`, `limit`). */
  field?: string;
}

export const ProblemBody = z.object({
  error: z.object({
    code: z
      .string()
      .check(z.meta({ description: 'stable and machine-readable: not_found, invalid_request, agent_paused…' })),
    message: z.string(),
    field: z.optional(z.string()).check(z.meta({ description: 'the request field at fault' })),
  }),
});

/** An error that already knows its HTTP answer. */
export class HttpError extends Error {
  override name = 'looprail.HttpError';
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { field?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.headers = options.headers;
  }
}

/** The body was over the host's limit (the node server refuses it before reading it all). */
export function bodyTooLarge(limitBytes: number): HttpError {
  return new HttpError(413, 'body_too_large', `the request body is larger than ${limitBytes} bytes`, {
    headers: { connection: 'close' },
  });
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } as const;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function problem(status: number, error: Problem, headers: Record<string, string> = {}): HttpResponse {
  return json(status, { error }, headers);
}

interface CompiledRoute {
  method: string;
  pattern: string;
  segments: string[];
  handler: RouteHandler;
}

export interface RouterOptions {
  /** Where unexpected errors are logged, with the request id the caller was given. */
  log?: Logger;
}

export class Router {
  readonly #routes: CompiledRoute[] = [];
  readonly #log: Logger | undefined;

  constructor(options: RouterOptions = {}) {
    this.#log = options.log;
  }

  /** `pattern` is a path whose `:name` segments become params, e.g. `/v1/runs/:runId/trace`. */
  add(method: string, pattern: string, handler: RouteHandler): this {
    if (!pattern.startsWith('/')) throw new Error(`route pattern must start with '/': ${pattern}`);
    const upper = method.toUpperCase();
    if (this.#routes.some((route) => route.method === upper && route.pattern === pattern))
      throw new Error(`route ${upper} ${pattern} is registered twice`);
    this.#routes.push({ method: upper, pattern, segments: splitPath(pattern), handler });
    return this;
  }

  get(pattern: string, handler: RouteHandler): this {
    return this.add('GET', pattern, handler);
  }

  post(pattern: string, handler: RouteHandler): this {
    return this.add('POST', pattern, handler);
  }

  /** Answers every request; never throws. */
  readonly handle = async (request: HttpRequest): Promise<HttpResponse> => {
    try {
      const segments = splitPath(request.path);
      const matches = this.#routes.flatMap((route) => {
        const params = match(route.segments, segments);
        return params ? [{ route, params }] : [];
      });
      if (matches.length === 0)
        return problem(404, { code: 'not_found', message: `no such endpoint: ${request.path}` });
      const method = request.method.toUpperCase();
      const found = matches.find(({ route }) => route.method === method);
      if (!found) {
        const allow = [...new Set(matches.map(({ route }) => route.method))].join(', ');
        return problem(
          405,
          { code: 'method_not_allowed', message: `${method} is not allowed on ${request.path} (allowed: ${allow})` },
          { allow },
        );
      }
      return await found.route.handler(request, found.params);
    } catch (error) {
      return this.#failure(request, error);
    }
  };

  #failure(request: HttpRequest, error: unknown): HttpResponse {
    const known = problemFor(error);
    if (known) return problem(known.status, known.problem, known.headers);
    const requestId = randomUUID();
    const failure = error instanceof Error ? error : new Error(String(error));
    this.#log?.error('http request failed', {
      requestId,
      method: request.method,
      path: request.path,
      error: failure.name,
      message: failure.message,
      stack: failure.stack,
    });
    return problem(500, { code: 'internal', message: `the request failed on the server (request id ${requestId})` });
  }
}

/** What a caller can act on, as a status and a problem; undefined for anything unexpected. */
export function problemFor(
  error: unknown,
): { status: number; problem: Problem; headers?: Record<string, string> } | undefined {
  if (error instanceof HttpError) {
    return {
      status: error.status,
      problem: withField({ code: error.code, message: error.message }, error.field),
      headers: error.headers,
    };
  }
  if (error instanceof z.$ZodError) {
    const issue = error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : undefined;
    const message = error.issues
      .map((each) => (each.path.length > 0 ? `${each.path.map(String).join('.')}: ${each.message}` : each.message))
      .join('; ');
    return { status: 400, problem: withField({ code: 'invalid_request', message }, field) };
  }
  if (error instanceof ValidationError) {
    return {
      status: 400,
      problem: withField({ code: 'invalid_request', message: error.message }, (error as { field?: unknown }).field),
    };
  }
  if (error instanceof NotFoundError) return { status: 404, problem: { code: 'not_found', message: error.message } };
  if (error instanceof ConcurrencyLimitError)
    return {
      status: 429,
      problem: { code: 'concurrency_limit', message: error.message },
      headers: { 'retry-after': '30' },
    };
  return undefined;
}

function withField(problem: Problem, field: unknown): Problem {
  return typeof field === 'string' && field.length > 0 ? { ...problem, field } : problem;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment.length > 0);
}

function match(pattern: string[], path: string[]): Record<string, string> | undefined {
  if (pattern.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i]!;
    const actual = path[i]!;
    if (expected.startsWith(':')) {
      params[expected.slice(1)] = decodeSegment(actual);
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(
      400,
      'invalid_request',
      `the path segment "${segment.slice(0, 80)}" is not valid percent-encoding`,
    );
  }
}

/**
 * Parses a JSON body with its schema; an empty body is `{}`. A body that is not JSON, or
 * nests deeper than MAX_BODY_DEPTH, is a 400.
 */
export function parseBody<T extends z.ZodMiniType>(request: HttpRequest, schema: T): z.infer<T> {
  const text = request.rawBody.toString('utf8').trim();
  let value: unknown = {};
  if (text.length > 0) {
    const type = request.headers['content-type'];
    if (type !== undefined && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
      throw new HttpError(415, 'unsupported_media_type', `send the body as application/json, not ${type}`);
    }
    // Before JSON.parse: what is parsed is then walked by zod and the steps, which recurse.
    const deep = jsonTextDepthProblem(text, MAX_BODY_DEPTH, 'body');
    if (deep) throw new HttpError(400, 'invalid_request', deep.message, { field: 'body' });
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
    }
  }
  return prefixed(() => schema.parse(value), 'body');
}

/** Parses the query string with its schema (values are strings; schemas coerce). */
export function parseQuery<T extends z.ZodMiniType>(request: HttpRequest, schema: T): z.infer<T> {
  return prefixed(() => schema.parse(request.query), 'query');
}

/** Zod errors name the field (`agent`, `limit`) and say where it was (`body.agent: …`). */
function prefixed<T>(parse: () => T, where: string): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof z.$ZodError)) throw error;
    const issue = error.issues[0];
    const path = issue?.path.map(String).join('.') ?? '';
    const message = error.issues
      .map((each) => `${[where, ...each.path.map(String)].join('.')}: ${each.message}`)
      .join('; ');
    throw new HttpError(400, 'invalid_request', message, { field: path || where });
  }
}
