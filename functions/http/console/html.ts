import { html, raw, type Html } from '../../../core/format/html.ts';
import { problemFor } from '../router.ts';
import type { HttpResponse, RouteHandler } from '../types.ts';

/**
 * The console's page layout and HTML answer. Values go into a page through `html`
 * (core/format/html.ts), which escapes by construction, so model output and tool results
 * are always shown as text. Pages carry no script at all, and the Content-Security-Policy
 * forbids any: a page works with JavaScript disabled because it never needs it.
 */

/** A URL with query parameters (empty ones left out), for links and pagers. */
export function href(path: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query))
    if (value !== undefined && value !== '') params.set(name, String(value));
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

export function ms(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value).toLocaleString('en-US')} ms`;
}

export function count(value: number): string {
  return value.toLocaleString('en-US');
}

const NAV = [
  ['/console/runs', 'Runs'],
  ['/console/approvals', 'Approvals'],
  ['/console/inventory', 'Inventory'],
  ['/console/costs', 'Costs'],
] as const;

const STYLE = `
:root{color-scheme:light dark;--fg:#1d2330;--muted:#5b6578;--line:#d8dde6;--bg:#fff;--alt:#f5f7fa;--accent:#2f5bd3;--ok:#1f7a3d;--bad:#b3261e;--warn:#8a5a00}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#a3acbd;--line:#394150;--bg:#14171d;--alt:#1b1f27;--accent:#8fb0ff;--ok:#6fd08c;--bad:#ff8a80;--warn:#f0c060}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;border-bottom:1px solid var(--line);background:var(--alt)}
header strong{font-size:1.05rem}nav a{margin-right:1rem}a{color:var(--accent)}a[aria-current=page]{font-weight:600;text-decoration:none}
main{padding:1rem 1.2rem;max-width:1400px}h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:.85rem}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.nested td{background:var(--alt)}tr.nested td.name{padding-left:1.6rem}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin-bottom:1rem}form.filters label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
input,select,button{font:inherit;padding:.25rem .4rem}button{cursor:pointer}
.ok,.pass,.verified,.completed{color:var(--ok)}.error,.fail,.failed,.denied{color:var(--bad)}.paused,.running,.queued{color:var(--warn)}
.muted{color:var(--muted)}.pager{margin:1rem 0;display:flex;gap:1rem}
.bar{position:relative;height:.8rem;min-width:220px;background:var(--alt);border:1px solid var(--line)}.bar span{position:absolute;top:0;bottom:0;background:var(--accent);min-width:2px}
.bar span.tool_call{background:#2e9e6a}.bar span.verification{background:#9a55c8}.bar span.approval_requested,.bar span.approval_decided{background:#d08a1a}.bar span.tool_denied,.bar span.run_failed{background:var(--bad)}
pre{white-space:pre-wrap;word-break:break-word;margin:.2rem 0;padding:.4rem;background:var(--alt);border:1px solid var(--line);max-height:24rem;overflow:auto}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dl.facts dt{color:var(--muted)}
.card{border:1px solid var(--line);padding:.8rem 1rem;margin-bottom:1rem}.tag{display:inline-block;padding:0 .35rem;border:1px solid var(--line);font-size:.8rem;margin-right:.25rem}
.tag.destructive{border-color:var(--bad);color:var(--bad)}.tag.write{border-color:var(--warn);color:var(--warn)}
.msg{border-left:3px solid var(--line);padding:.2rem .6rem;margin:.5rem 0}.msg.assistant{border-color:var(--accent)}.msg.tool{border-color:#2e9e6a}
svg text{fill:var(--fg);font-size:11px}
`;

/** A whole page: header with navigation, then the body. */
export function layout(title: string, current: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · looprail</title><style>${raw(STYLE)}</style></head>
<body><header><strong>looprail</strong><nav aria-label="console">${NAV.map(([path, label]) => html`<a href="${path}"${raw(path === current ? ' aria-current="page"' : '')}>${label}</a>`)}</nav></header>
<main id="main">${body}</main></body></html>`.value;
}

/**
 * No script may run (script-src is 'none' through default-src); inline styles are the
 * only exception, for the waterfall's bars. Forms post back to this origin only.
 */
export const CONSOLE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function htmlPage(status: number, title: string, current: string, body: Html): HttpResponse {
  return { status, headers: { ...CONSOLE_HEADERS }, body: layout(title, current, body) };
}

/**
 * A console route: errors a person can act on (a run that does not exist, a bad filter)
 * become an HTML page with the same status the API would give; anything else goes on to
 * the router, which logs it and answers 500 with a request id.
 */
export function consoleRoute(current: string, handler: RouteHandler): RouteHandler {
  return async (request, params) => {
    try {
      return await handler(request, params);
    } catch (error) {
      const known = problemFor(error);
      if (!known) throw error;
      const title = known.status === 404 ? 'Not found' : 'Cannot show this page';
      return htmlPage(
        known.status,
        title,
        current,
        html`<h1>${title}</h1><p class="error" role="alert">${known.problem.message}</p><p><a href="${current}">Back</a></p>`,
      );
    }
  };
}
