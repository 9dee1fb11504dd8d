import { html } from '../core/format/html.ts';
import { htmlPage } from '../functions/http/console/html.ts';
import type { HttpResponse } from '../functions/http/types.ts';

/**
 * Signing in to the console on the local server. A browser cannot send the dev token as
 * an Authorization header without script, so the console also takes it from a cookie:
 * the login form posts the token once, and the server sets it HttpOnly and
 * SameSite=Strict, for /console only (another site can neither read it nor make a
 * request that carries it). On AWS the console sits behind the API's IAM auth instead.
 */

export const CONSOLE_LOGIN_PATH = '/console/login';
export const CONSOLE_COOKIE = 'looprail_console';

export function isConsolePath(path: string): boolean {
  return path === '/console' || path.startsWith('/console/');
}

/** The cookie's value, if the request carries it. */
export function consoleCookie(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === CONSOLE_COOKIE) return value.join('=');
  }
  return undefined;
}

/** Only a console path of this server: never another origin (`//evil`), a scheme, or a dot segment (`..`, `%2e%2e`). */
function safeNext(next: string | null | undefined): string {
  return next &&
    /^\/console(\/[\w\-./]*)?(\?[\w\-.=&%+]*)?$/.test(next) &&
    !next.includes('//') &&
    !next.includes('..') &&
    next !== CONSOLE_LOGIN_PATH
    ? next
    : '/console/runs';
}

export function loginForm(status: number, next: string, message?: string): HttpResponse {
  const body = html`<h1>Sign in to the console</h1>
${message ? html`<p class="error" role="alert">${message}</p>` : ''}
<p>Paste the token <code>looprail dev</code> printed when it started (it is also in <code>.looprail/dev.json</code>).</p>
<form method="post" action="${CONSOLE_LOGIN_PATH}" class="filters">
<input type="hidden" name="next" value="${safeNext(next)}">
<label>Token<input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`;
  return htmlPage(status, 'Sign in', '', body);
}

/**
 * GET shows the form; POST checks the token (with `check`, a constant-time compare) and
 * sets the cookie, or shows the form again with a 401.
 */
export function consoleLogin(
  request: { method: string; query: URLSearchParams; body: Buffer },
  check: (token: string) => boolean,
): HttpResponse {
  if (request.method === 'GET' || request.method === 'HEAD') return loginForm(200, safeNext(request.query.get('next')));
  if (request.method !== 'POST')
    return {
      status: 405,
      headers: { allow: 'GET, POST', 'content-type': 'text/plain; charset=utf-8' },
      body: 'use GET or POST',
    };
  const form = new URLSearchParams(request.body.toString('utf8'));
  const token = (form.get('token') ?? '').trim();
  const next = safeNext(form.get('next'));
  if (!token || /[\s;,]/.test(token) || !check(token))
    return loginForm(401, next, 'That is not the token of this server.');
  return {
    status: 303,
    headers: {
      location: next,
      'set-cookie': `${CONSOLE_COOKIE}=${token}; Path=/console; HttpOnly; SameSite=Strict`,
      'cache-control': 'no-store',
    },
    body: '',
  };
}
