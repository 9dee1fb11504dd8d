import { html, joinHtml, raw, type Html } from '../format/html.ts';
import { formatUsd } from '../format/usd.ts';
import type { MailMessage } from '../ports/mail.ts';

/**
 * The approval email, one per recipient (each link is signed for its recipient): which
 * agent and run, which tools with their exact (guardrail-redacted) arguments, why a human
 * must decide, the cost so far, the trace, and the link to the confirmation page. Plain
 * text and HTML, escaped by construction (core/format/html.ts).
 */

export interface ApprovalMailFacts {
  agent: string;
  runId: string;
  approvalId: string;
  /** `server.tool` with the arguments as the approver will approve them (already redacted). */
  calls: Array<{ tool: string; arguments: unknown }>;
  /** A budget increase instead of tool calls. */
  budget?: { name: string; amountMicros: number };
  reasons: string[];
  costMicros: number;
  expiresAt: string;
  traceUrl: string;
}

const PRE_STYLE = 'white-space:pre-wrap;background:#f4f4f4;padding:8px';
const BODY_OPEN = '<body style="font-family:sans-serif">';

/** The mail's HTML around its body; follow-ups insert their note right after BODY_OPEN. */
function mailDocument(subject: string, body: Html): string {
  return html`<!doctype html>
<html><head><meta charset="utf-8"><title>${subject}</title></head>${raw(BODY_OPEN)}
${body}
</body></html>`.value;
}

function argumentsText(value: unknown): string {
  return JSON.stringify(value ?? {}, null, 2);
}

function subjectOf(facts: ApprovalMailFacts): string {
  const what = facts.budget ? `more budget (${facts.budget.name})` : facts.calls.map((call) => call.tool).join(', ');
  return `[looprail] approve ${what} for ${facts.agent}?`;
}

export function approvalEmail(facts: ApprovalMailFacts, recipient: string, link: string): MailMessage {
  const subject = subjectOf(facts);
  const asked = facts.budget
    ? [`Budget ${facts.budget.name}: +${formatUsd(facts.budget.amountMicros)} for this run`]
    : facts.calls.map((call) => `${call.tool} with arguments:\n${argumentsText(call.arguments)}`);
  const text = [
    `Agent ${facts.agent} (run ${facts.runId}) is waiting for your decision.`,
    '',
    facts.budget ? 'It asks for:' : 'It wants to call:',
    ...asked.map((line) => `- ${line}`),
    '',
    'Why a human must decide:',
    ...facts.reasons.map((reason) => `- ${reason}`),
    '',
    `Cost so far: ${formatUsd(facts.costMicros)}`,
    `Expires: ${facts.expiresAt}`,
    `Trace: ${facts.traceUrl}`,
    '',
    `Review and decide (opening the link decides nothing; this link is for ${recipient} only):`,
    link,
    '',
    `Approval ${facts.approvalId}`,
  ].join('\n');
  const items = facts.budget
    ? [html`<li>Budget <code>${facts.budget.name}</code>: +${formatUsd(facts.budget.amountMicros)} for this run</li>`]
    : facts.calls.map(
        (call) =>
          html`<li><code>${call.tool}</code><pre style="${PRE_STYLE}">${argumentsText(call.arguments)}</pre></li>`,
      );
  const cost = formatUsd(facts.costMicros);
  const body = joinHtml(
    [
      html`<p>Agent <strong>${facts.agent}</strong> (run <code>${facts.runId}</code>) is waiting for your decision.</p>`,
      html`<p>${facts.budget ? 'It asks for:' : 'It wants to call:'}</p>`,
      html`<ul>${items}</ul>`,
      html`<p>Why a human must decide:</p>`,
      html`<ul>${facts.reasons.map((reason) => html`<li>${reason}</li>`)}</ul>`,
      html`<p>Cost so far: ${cost}<br>Expires: ${facts.expiresAt}<br><a href="${facts.traceUrl}">The run's trace</a></p>`,
      html`<p><a href="${link}">Review and decide</a> (opening the link decides nothing; it is for ${recipient} only)</p>`,
      html`<p style="color:#666">Approval ${facts.approvalId}</p>`,
    ],
    '\n',
  );
  return { to: [recipient], subject, text, html: mailDocument(subject, body) };
}

/**
 * A reminder (nobody has decided and the approval expires soon) or an escalation (the
 * recipient joins the approvers): the approval email, its subject and first lines saying so.
 */
export function followUpEmail(mail: MailMessage, kind: 'reminder' | 'escalation', expiresAt: string): MailMessage {
  const label = kind === 'reminder' ? 'reminder' : 'escalated';
  const note =
    kind === 'reminder'
      ? `Reminder: nobody has decided yet, and this approval expires at ${expiresAt}.`
      : `Escalated to you: nobody has decided yet, so you may now decide too. It expires at ${expiresAt}.`;
  return {
    ...mail,
    subject: mail.subject.replace(/^\[looprail\] /, `[looprail] ${label}: `),
    text: `${note}\n\n${mail.text}`,
    // A function, so no `$` pattern in the note is read as a replacement pattern.
    html: mail.html?.replace(BODY_OPEN, () => html`${raw(BODY_OPEN)}\n<p><strong>${note}</strong></p>`.value),
  };
}

/** Sent to the approvers when nobody decided in time: the run stopped `approval_expired`. */
export function expiredEmail(
  facts: Pick<ApprovalMailFacts, 'agent' | 'runId' | 'approvalId' | 'expiresAt' | 'traceUrl'>,
  recipients: string[],
): MailMessage {
  const subject = `[looprail] approval for ${facts.agent} expired: the run stopped`;
  const text = [
    `Nobody decided on approval ${facts.approvalId} before it expired at ${facts.expiresAt}.`,
    `Run ${facts.runId} of ${facts.agent} stopped: approval_expired.`,
    `Trace: ${facts.traceUrl}`,
  ].join('\n');
  const body = html`<p>Nobody decided on approval <code>${facts.approvalId}</code> before it expired at ${facts.expiresAt}.</p>
<p>Run <code>${facts.runId}</code> of <strong>${facts.agent}</strong> stopped: approval_expired.</p>
<p><a href="${facts.traceUrl}">The run's trace</a></p>`;
  return { to: recipients, subject, text, html: mailDocument(subject, body) };
}
