import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen } from '../adapters/http/listen.ts';
import { CONSOLE_LOGIN_PATH, consoleCookie, consoleLogin, isConsolePath, loginForm } from './console-login.ts';
import { bodyTooLarge, problem, problemFor } from '../functions/http/router.ts';
import type { HttpRequest, HttpResponse } from '../functions/http/types.ts';

/**
 * The one HTTP app on a local port (`looprail dev`, tests): node:http requests become the
 * app's own HttpRequest (the raw body kept as bytes, at most 1 MB), and its answers go
 * back as they are. `/v1/*` needs the bearer token; the caller is then `local:<user>`.
 * The console (`/console/*`) needs the same token, as the header or as the cookie its
 * login form sets (cli/console-login.ts). Other paths (the OpenAPI document, webhooks,
 * approval pages) authenticate their own way or not at all.
 *
 * It listens on 127.0.0.1: a web page cannot use it through DNS rebinding or a
 * cross-origin request, as it cannot know the token, and a request with an
 * Authorization header needs a CORS preflight this server never grants.
 */

export const MAX_BODY_BYTES = 1024 * 1024;

export type HttpApp = (request: HttpRequest) => Promise<HttpResponse>;

export interface HttpServerOptions {
  app: HttpApp;
  /** `/v1/*` requests must carry `Authorization: Bearer <token>`. */
  token: string;
  /** Recorded as `local:<user>` on what authenticated requests start. */
  user: string;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  maxBodyBytes?: number;
  /** Operational lines (failures); never receives the token or a body. */
  log?: (line: string) => void;
}

export interface LocalHttpServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stops accepting connections, lets requests in progress finish, then closes idle connections. */
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<LocalHttpServer> {
  if (!options.token || /\s/.test(options.token))
    throw new Error('the HTTP server needs a non-empty token without spaces');
  const tokenDigest = digest(options.token);
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const log = options.log ?? (() => {});
  const principal = `local:${options.user}`;

  const server = createServer((req, res) => {
    void serve(req, res).catch((error: unknown) => {
      log(`http: ${req.method} ${pathOf(req.url)} failed: ${(error as Error).message}`);
      if (!res.headersSent) send(res, problem(500, { code: 'internal', message: 'the request failed on the server' }));
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // The console is behind the same token as the API: as a header, or the cookie its login sets.
    const consolePage = isConsolePath(url.pathname) && url.pathname !== CONSOLE_LOGIN_PATH;
    const protectedPath = url.pathname === '/v1' || url.pathname.startsWith('/v1/') || consolePage;
    // Authentication comes first, so nothing about the API shows without the token.
    if (
      consolePage &&
      !authorized(req.headers.authorization, tokenDigest) &&
      !tokenMatches(consoleCookie(req.headers.cookie), tokenDigest)
    ) {
      return send(res, loginForm(401, `${url.pathname}${url.search}`));
    }
    if (protectedPath && !consolePage && !authorized(req.headers.authorization, tokenDigest)) {
      return send(
        res,
        problem(
          401,
          {
            code: 'unauthenticated',
            message: 'send the token `looprail dev` printed as "Authorization: Bearer <token>"',
          },
          { 'www-authenticate': 'Bearer realm="looprail"' },
        ),
      );
    }
    const body = await readBody(req, maxBodyBytes);
    if (!body.ok) {
      const refused = problemFor(bodyTooLarge(maxBodyBytes))!;
      return send(res, problem(refused.status, refused.problem, refused.headers));
    }
    if (url.pathname === CONSOLE_LOGIN_PATH) {
      return send(
        res,
        consoleLogin({ method: req.method ?? 'GET', query: url.searchParams, body: body.bytes }, (token) =>
          tokenMatches(token, tokenDigest),
        ),
      );
    }
    const request: HttpRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: headersOf(req),
      rawBody: body.bytes,
      principal: protectedPath ? principal : undefined,
    };
    send(res, await options.app(request));
  }

  const host = options.host ?? '127.0.0.1';
  const address = await listen(server, host, options.port ?? 0);
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    close: () => (closing ??= closeServer(server)),
  };
}

function send(res: ServerResponse, response: HttpResponse): void {
  const body = response.body ?? '';
  res.writeHead(response.status, { ...response.headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/** Lower-case names; repeated headers joined as HTTP allows (`, `). */
function headersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

type BodyRead = { ok: true; bytes: Buffer } | { ok: false };

/** The raw body, refused once it passes the limit (by its declared length, or as it arrives). */
async function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return { ok: false };
  const chunks: Buffer[] = [];
  let size = 0;
  // Stopping early must not destroy the socket: the 413 still has to be sent on it.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return { ok: false };
    chunks.push(chunk);
  }
  return { ok: true, bytes: Buffer.concat(chunks) };
}

/** Compared as sha256 digests in constant time: neither the token nor its length leaks through timing. */
function authorized(header: string | undefined, tokenDigest: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  return timingSafeEqual(digest(match[1]!), tokenDigest);
}

function tokenMatches(token: string | undefined, tokenDigest: Buffer): boolean {
  return token !== undefined && token.length > 0 && timingSafeEqual(digest(token), tokenDigest);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?')[0]!;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    // Keep-alive connections with no request in progress would hold close() open.
    server.closeIdleConnections();
  });
}
