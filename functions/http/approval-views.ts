import { MAX_COMMENT_CHARS, type DecisionResult } from '../../core/approvals/decide.ts';
import type { ApprovalRefusedError, RefusalCode } from '../../core/approvals/errors.ts';
import type { RiskLine } from '../../core/approvals/risk.ts';
import { html, joinHtml, raw, type Html } from '../../core/format/html.ts';
import { formatUsd } from '../../core/format/usd.ts';
import type { HttpResponse } from './types.ts';

/**
 * The approval pages' HTML, escaped by construction (core/format/html.ts): every value
 * (agent and tool names, redacted arguments, reasons, comments, addresses, links) goes in
 * through `html`. The pages carry no script, and their headers forbid any.
 */

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // No script, no frames, forms only back to this app; the link's signature never leaks through a Referer.
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const STYLE = raw(
  '<style>*{box-sizing:border-box}' +
    'body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:0 auto;padding:1rem;color:#1a1a1a}' +
    'h1{font-size:1.45rem;line-height:1.25}h2{font-size:1.05rem;margin:.4rem 0}' +
    // Tool names, run ids and arguments are long unbroken words: they wrap rather than widen the page.
    'h1,code,pre,strong,a{overflow-wrap:anywhere}' +
    'pre{white-space:pre-wrap;background:#f4f4f4;padding:.6rem;border-radius:4px;font-size:.9rem;margin:.3rem 0}' +
    'ul{padding-left:1.2rem}.expiry{font-weight:600}' +
    '.risk{border:1px solid #d0d0d0;border-radius:6px;padding:.4rem 1rem;margin:1rem 0;background:#fafafa}' +
    '.risk ul{margin:.3rem 0}.risk-high{color:#8a1c00;font-weight:600}.risk-low{color:#444}' +
    '.decide{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}' +
    '.decide button{flex:1 1 12rem;min-height:3rem;font:inherit;font-weight:600;border-radius:6px;padding:.5rem 1rem}' +
    '.approve{background:#1a7f37;color:#fff;border:2px solid #1a7f37}' +
    '.reject{background:#fff;color:#b42318;border:2px solid #b42318}' +
    'textarea{width:100%;font:inherit}.note{color:#555;font-size:.9rem}' +
    '@media (max-width:30rem){body{padding:.75rem}h1{font-size:1.25rem}}</style>',
);

/** A whole page: the title as heading, then the body. */
export function approvalPage(status: number, title: string, body: Html): HttpResponse {
  const document = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
${STYLE}
</head><body><h1>${title}</h1>
${body}
</body></html>`;
  return { status, headers: { ...PAGE_HEADERS }, body: document.value };
}

const TITLES: Record<RefusalCode, string> = {
  not_found: 'No such approval',
  invalid_link: 'This link is not valid',
  link_expired: 'This link has expired',
  expired: 'This approval has expired',
  already_decided: 'Already decided',
  run_not_waiting: 'The run is no longer waiting',
  not_allowed: 'Not an approver',
  forged: 'The form could not be verified',
  missing_field: 'Something is missing',
  unavailable: 'Approvals are not available here',
};

export function refusalPage(error: ApprovalRefusedError): HttpResponse {
  const body = html`<p>${error.message}</p><p class="note">Nothing was changed.</p>`;
  return approvalPage(error.status, TITLES[error.code] ?? 'Refused', body);
}

/** What is asked: the calls (tool, redacted exact arguments) or a budget increase. */
export type Asked =
  | { budget: { name: string; amountMicros: number } }
  | { calls: Array<{ tool: string; arguments: unknown }> };

function askedHtml(asked: Asked, reasons: string[]): Html {
  const why = html`<p>Why a human must decide:</p><ul>${reasons.map((reason) => html`<li>${reason}</li>`)}</ul>`;
  if ('budget' in asked) {
    const { name, amountMicros } = asked.budget;
    return html`<p>It asks for +${formatUsd(amountMicros)} on budget <code>${name}</code>.</p>${why}`;
  }
  const items = asked.calls.map(
    (call) => html`<li><code>${call.tool}</code><pre>${JSON.stringify(call.arguments ?? {}, null, 2)}</pre></li>`,
  );
  return html`<p>It wants to call:</p><ul>${items}</ul>${why}`;
}

export interface Confirmation {
  /** What the title names: the tools, or more budget. */
  asking: string;
  agent: string;
  runId: string;
  asked: Asked;
  /** Why a human must decide. */
  reasons: string[];
  /** When it expires, in words ("expires in 23 h, Mon 07:00 UTC": core/format/relative-time.ts). */
  expires: string;
  /** What approving risks, in plain words (core/approvals/risk.ts). */
  risk: RiskLine[];
  traceUrl: string;
  /** The form posts back to the signed link itself. */
  action: string;
  formToken: string;
  recipient: string;
}

const COMMENT_FIELD = joinHtml([
  html`<p><label for="comment">Comment (optional; the agent reads it on a rejection)</label><br>`,
  html`<textarea id="comment" name="comment" rows="3" maxlength="${MAX_COMMENT_CHARS}"></textarea></p>`,
]);

/** Buttons that look like what they do: approving runs the call (green), rejecting refuses it (red outline). */
function buttons(asked: Asked): Html {
  const approve = 'budget' in asked ? `✓ Approve +${formatUsd(asked.budget.amountMicros)}` : '✓ Approve: run it';
  const reject = 'budget' in asked ? '✕ Reject: no more budget' : '✕ Reject: do not run it';
  return joinHtml([
    html`<div class="decide"><button type="submit" name="decision" value="approve" class="approve">${approve}</button>`,
    html`<button type="submit" name="decision" value="reject" class="reject">${reject}</button></div>`,
  ]);
}

function riskHtml(risk: RiskLine[]): Html {
  const items = risk.map((line) => html`<li class="risk-${line.level}">${line.text}</li>`);
  return html`<section class="risk" aria-label="risk"><h2>Before you decide</h2><ul>${items}</ul></section>`;
}

const NOTHING_CHANGED = 'Opening this page changed nothing; only a button does, once.';

/** GET: what is asked, what approving risks, and the Approve / Reject form; showing it decides nothing. */
export function confirmationPage(facts: Confirmation): HttpResponse {
  return approvalPage(
    200,
    `Approve ${facts.asking}?`,
    joinHtml(
      [
        html`<p>Agent <strong>${facts.agent}</strong> is waiting for your decision; it <span class="expiry">${facts.expires}</span>.</p>`,
        riskHtml(facts.risk),
        askedHtml(facts.asked, facts.reasons),
        html`<form method="post" action="${facts.action}">`,
        html`<input type="hidden" name="form_token" value="${facts.formToken}">`,
        COMMENT_FIELD,
        buttons(facts.asked),
        html`</form>`,
        html`<p class="note">Run <code>${facts.runId}</code> · <a href="${facts.traceUrl}">its trace</a></p>`,
        html`<p class="note">Deciding as ${facts.recipient}. ${NOTHING_CHANGED}</p>`,
      ],
      '\n',
    ),
  );
}

/** POST: what was decided, and what happens to the run now. */
export function decidedPage(result: DecisionResult, traceUrl: string): HttpResponse {
  const { decision } = result;
  if (result.waitingFor) {
    const rule = `This call needs two different approvers: ${result.waitingFor} more must approve before it runs.`;
    const body = html`<p>Approved by ${decision.by}. ${rule}</p>`;
    return approvalPage(200, 'Approval recorded', body);
  }
  const outcome = decision.outcome === 'approved' ? 'Approved' : 'Rejected';
  const next = !result.delivered
    ? 'The decision is recorded, but the run had already stopped waiting.'
    : decision.outcome === 'approved'
      ? 'The run goes on: the approved call runs now.'
      : result.stopsRun
        ? 'The run stops: rejected.'
        : 'The agent is told the call was rejected (with your comment) and may go on without it.';
  const body = html`<p>${outcome} by ${decision.by} at ${decision.at}.</p>
<p>${next}</p>
<p><a href="${traceUrl}">The run's trace</a></p>`;
  return approvalPage(200, outcome, body);
}
