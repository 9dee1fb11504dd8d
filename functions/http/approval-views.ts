import { MAX_COMMENT_CHARS, type DecisionResult } from '../../core/approvals/decide.ts';
import type { ApprovalRefusedError, RefusalCode } from '../../core/approvals/errors.ts';
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
  '<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}' +
    'pre{white-space:pre-wrap;background:#f4f4f4;padding:.6rem}' +
    'button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}' +
    'textarea{width:100%}.note{color:#555}</style>',
);

/** A whole page: the title as heading, then the body. */
export function approvalPage(status: number, title: string, body: Html): HttpResponse {
  const document = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title>
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
  costMicros: number;
  expiresAt: string;
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

const BUTTONS = joinHtml([
  html`<p><button type="submit" name="decision" value="approve">Approve</button>`,
  html`<button type="submit" name="decision" value="reject">Reject</button></p>`,
]);

const NOTHING_CHANGED = 'Opening this page changed nothing; only a button does, once.';

/** GET: what is asked and the Approve / Reject form; showing it decides nothing. */
export function confirmationPage(facts: Confirmation): HttpResponse {
  const cost = formatUsd(facts.costMicros);
  return approvalPage(
    200,
    `Approve ${facts.asking}?`,
    joinHtml(
      [
        html`<p>Agent <strong>${facts.agent}</strong>, run <code>${facts.runId}</code>, is waiting for a decision.</p>`,
        askedHtml(facts.asked, facts.reasons),
        html`<p>Cost so far: ${cost} · expires ${facts.expiresAt} · <a href="${facts.traceUrl}">trace</a></p>`,
        html`<form method="post" action="${facts.action}">`,
        html`<input type="hidden" name="form_token" value="${facts.formToken}">`,
        COMMENT_FIELD,
        BUTTONS,
        html`</form>`,
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
