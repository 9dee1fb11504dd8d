/**
 * The HTTP app's own request and response: what API Gateway's Lambda event and Node's
 * http server both become, so one app (API, webhooks, approval pages, console) runs in
 * both hosts. The raw body is kept as bytes: webhook signatures are checked over it
 * before anything parses it.
 */
export interface HttpRequest {
  method: string;
  /** Without the query string, e.g. `/v1/runs/r-123`. */
  path: string;
  query: Record<string, string>;
  /** Lower-case names. */
  headers: Record<string, string>;
  rawBody: Buffer;
  /** Who is calling, as the host authenticated them (IAM principal on AWS, the token's owner locally). */
  principal?: string;
}

export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export type RouteHandler = (request: HttpRequest, params: Record<string, string>) => Promise<HttpResponse>;
