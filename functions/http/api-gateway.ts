import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { bodyTooLarge, problem, problemFor } from './router.ts';
import type { HttpRequest, HttpResponse } from './types.ts';
import * as z from '../../core/definitions/zod.ts';

/**
 * An HTTP app as a Lambda behind API Gateway's HTTP API (payload format 2.0): the event
 * becomes the app's own HttpRequest, the caller being the IAM principal API Gateway's
 * authorizer verified; the app's answer goes back as the Lambda result (binary bodies
 * base64-encoded). Both HTTP functions use it: the API and console (handler.ts) and the
 * approval pages (functions/approval/http.ts), which so carry none of the other's routes.
 */

/** The same limit as the local server: API Gateway would pass up to 10 MB. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The parts of a payload format 2.0 event the app reads. */
const HttpApiEvent = z.object({
  version: z.literal('2.0'),
  rawPath: z.string(),
  rawQueryString: z._default(z.string(), ''),
  headers: z._default(z.record(z.string(), z.string()), {}),
  body: z.optional(z.string()),
  isBase64Encoded: z._default(z.boolean(), false),
  requestContext: z.object({
    stage: z._default(z.string(), '$default'),
    http: z.object({ method: z.string() }),
    authorizer: z.optional(
      z.object({ iam: z.optional(z.object({ userArn: z.optional(z.string()), userId: z.optional(z.string()) })) }),
    ),
  }),
});
export type HttpApiEvent = z.input<typeof HttpApiEvent>;

export type HttpApp = (request: HttpRequest) => Promise<HttpResponse>;

/** An event the app can take, or the answer when it cannot (too big, unauthenticated). */
export function toHttpRequest(raw: unknown): { request: HttpRequest } | { refused: HttpResponse } {
  const event = HttpApiEvent.parse(raw);
  const stagePrefix = event.requestContext.stage === '$default' ? '' : `/${event.requestContext.stage}`;
  const path =
    stagePrefix && event.rawPath.startsWith(`${stagePrefix}/`)
      ? event.rawPath.slice(stagePrefix.length)
      : event.rawPath;
  const rawBody =
    event.body === undefined ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (rawBody.length > MAX_BODY_BYTES) {
    const refused = problemFor(bodyTooLarge(MAX_BODY_BYTES))!;
    return { refused: problem(refused.status, refused.problem) };
  }
  const iam = event.requestContext.authorizer?.iam;
  const principal = iam?.userArn || iam?.userId || undefined;
  // The route's IAM authorizer is what protects /v1 and the console; without a caller, refuse rather than guess.
  if (
    (path === '/v1' || path.startsWith('/v1/') || path === '/console' || path.startsWith('/console/')) &&
    !principal
  ) {
    return {
      refused: problem(401, {
        code: 'unauthenticated',
        message: 'sign the request with AWS credentials (SigV4); /v1 and /console use IAM authorization',
      }),
    };
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers)) headers[name.toLowerCase()] = value;
  return {
    request: {
      method: event.requestContext.http.method.toUpperCase(),
      path,
      query: Object.fromEntries(new URLSearchParams(event.rawQueryString)),
      headers,
      rawBody,
      principal,
    },
  };
}

export function toResult(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  const binary = Buffer.isBuffer(response.body);
  return {
    statusCode: response.status,
    headers: response.headers ?? {},
    body: binary ? (response.body as Buffer).toString('base64') : ((response.body as string | undefined) ?? ''),
    isBase64Encoded: binary,
  };
}

/** A Lambda handler over any app: what both entries use, and what tests call. */
export function httpHandler(app: () => HttpApp): (event: unknown) => Promise<APIGatewayProxyStructuredResultV2> {
  return async (event) => {
    let converted: ReturnType<typeof toHttpRequest>;
    try {
      converted = toHttpRequest(event);
    } catch (error) {
      // Not an HTTP API 2.0 event: a wiring mistake, never a caller's.
      console.error(
        JSON.stringify({
          level: 'error',
          message: 'not an HTTP API payload 2.0 event',
          error: (error as Error).message,
        }),
      );
      return toResult(problem(500, { code: 'internal', message: 'the request failed on the server' }));
    }
    if ('refused' in converted) return toResult(converted.refused);
    return toResult(await app()(converted.request));
  };
}
