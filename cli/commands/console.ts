import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { ValidationError } from '../../core/errors.ts';
import { html } from '../../core/format/html.ts';
import { CONSOLE_HEADERS, htmlPage } from '../../functions/http/console/html.ts';
import type { HttpRequest, HttpResponse } from '../../functions/http/types.ts';
import { isConsolePath } from '../console-login.ts';
import { startHttpServer, type LocalHttpServer } from '../http-server.ts';
import { parsePort, stopSignal } from '../process.ts';
import { regionOfApiUrl, sigv4Fetch } from '../sigv4.ts';

/**
 * `looprail console --url <deployed API>`: a deployed stack's console sits behind IAM,
 * which a browser cannot sign. This serves it on 127.0.0.1 behind a random token (the
 * same login as `looprail dev`) and forwards each console page request, signed with
 * SigV4 with the caller's own AWS credentials, so what a person may see is what their IAM
 * identity may see. Only GETs under /console are forwarded; nothing is cached.
 */

export interface ConsoleProxyOptions {
  url: string;
  /** Default: from the API's execute-api host name. */
  region?: string;
  port?: number;
  credentials?: AwsCredentialIdentityProvider;
  /** Default: a random one. */
  token?: string;
}

/** The upstream headers a page needs; never cookies or anything about the signature. */
const FORWARDED_HEADERS = ['content-type', 'location', 'cache-control'];

export function consoleProxyApp(options: {
  url: string;
  fetch: typeof fetch;
}): (request: HttpRequest) => Promise<HttpResponse> {
  const base = new URL(options.url);
  return async (request) => {
    if (!isConsolePath(request.path))
      return htmlPage(
        404,
        'Not found',
        '',
        html`<h1>Not found</h1><p>This server only shows the console: <a href="/console/runs">/console</a>.</p>`,
      );
    if (request.method !== 'GET')
      return {
        status: 405,
        headers: { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' },
        body: 'the console is read-only: GET only',
      };
    const target = new URL(request.path, base);
    for (const [name, value] of Object.entries(request.query)) target.searchParams.set(name, value);
    let response: Response;
    try {
      response = await options.fetch(target, { method: 'GET', headers: { accept: 'text/html' }, redirect: 'manual' });
    } catch (error) {
      return htmlPage(
        502,
        'Unreachable',
        '',
        html`<h1>The deployed API did not answer</h1><p class="error">${(error as Error).message}</p>`,
      );
    }
    const headers: Record<string, string> = { ...CONSOLE_HEADERS };
    for (const name of FORWARDED_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    return { status: response.status, headers, body: Buffer.from(await response.arrayBuffer()) };
  };
}

export async function startConsoleProxy(options: ConsoleProxyOptions): Promise<LocalHttpServer & { token: string }> {
  let parsed: URL;
  try {
    parsed = new URL(options.url);
  } catch {
    throw new ValidationError(`--url must be the deployed API's URL (the stack's ApiUrl output), not "${options.url}"`);
  }
  const region = options.region ?? regionOfApiUrl(parsed.href);
  if (!region) throw new ValidationError(`cannot tell the Region from ${parsed.host}: pass --region`);
  const token = options.token ?? randomBytes(32).toString('base64url');
  const app = consoleProxyApp({ url: parsed.href, fetch: sigv4Fetch(region, options.credentials) });
  const server = await startHttpServer({ app, token, user: userInfo().username, port: options.port ?? 0 });
  return { ...server, token };
}

export async function consoleCommand(options: { url: string; region?: string; port: string }): Promise<void> {
  const server = await startConsoleProxy({ url: options.url, region: options.region, port: parsePort(options.port) });
  console.log(
    `looprail console: ${server.url}/console (pages of ${options.url}, signed with your AWS credentials)\ntoken (random, changes on every start): ${server.token}\nCtrl-C stops it.`,
  );
  await stopSignal();
  await server.close();
}
