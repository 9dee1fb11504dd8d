import type { MailMessage } from '../ports/mail.ts';

/**
 * The approval email, one per recipient (each link is signed for its recipient): which
 * agent and run, which tools with their exact (guardrail-redacted) arguments, why a human
 * must decide, the cost so far, the trace, and the link to the confirmation page. Plain
 * text and HTML; every value in the HTML is escaped.
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

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export function usd(micros: number): string {
  return `$${(micros / 1e6).toFixed(4)}`;
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
  const asked = facts.budget ? [`Budget ${facts.budget.name}: +${usd(facts.budget.amountMicros)} for this run`] : facts.calls.map((call) => `${call.tool} with arguments:\n${argumentsText(call.arguments)}`);
  const text = [
    `Agent ${facts.agent} (run ${facts.runId}) is waiting for your decision.`,
    '',
    facts.budget ? 'It asks for:' : 'It wants to call:',
    ...asked.map((line) => `- ${line}`),
    '',
    'Why a human must decide:',
    ...facts.reasons.map((reason) => `- ${reason}`),
    '',
    `Cost so far: ${usd(facts.costMicros)}`,
    `Expires: ${facts.expiresAt}`,
    `Trace: ${facts.traceUrl}`,
    '',
    `Review and decide (opening the link decides nothing; this link is for ${recipient} only):`,
    link,
    '',
    `Approval ${facts.approvalId}`,
  ].join('\n');
  const items = facts.budget
    ? [`<li>Budget <code>${escapeHtml(facts.budget.name)}</code>: +${escapeHtml(usd(facts.budget.amountMicros))} for this run</li>`]
    : facts.calls.map((call) => `<li><code>${escapeHtml(call.tool)}</code><pre style="white-space:pre-wrap;background:#f4f4f4;padding:8px">${escapeHtml(argumentsText(call.arguments))}</pre></li>`);
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body style="font-family:sans-serif">`,
    `<p>Agent <strong>${escapeHtml(facts.agent)}</strong> (run <code>${escapeHtml(facts.runId)}</code>) is waiting for your decision.</p>`,
    `<p>${facts.budget ? 'It asks for:' : 'It wants to call:'}</p>`,
    `<ul>${items.join('')}</ul>`,
    '<p>Why a human must decide:</p>',
    `<ul>${facts.reasons.map((reason) => `<li>${escapeHtml(reason)}</li>`).join('')}</ul>`,
    `<p>Cost so far: ${escapeHtml(usd(facts.costMicros))}<br>Expires: ${escapeHtml(facts.expiresAt)}<br><a href="${escapeHtml(facts.traceUrl)}">The run's trace</a></p>`,
    `<p><a href="${escapeHtml(link)}">Review and decide</a> (opening the link decides nothing; it is for ${escapeHtml(recipient)} only)</p>`,
    `<p style="color:#666">Approval ${escapeHtml(facts.approvalId)}</p>`,
    '</body></html>',
  ].join('\n');
  return { to: [recipient], subject, text, html };
}

/**
 * A reminder (nobody has decided and the approval expires soon) or an escalation (the
 * recipient joins the approvers): the approval email, its subject and first lines saying so.
 */
export function followUpEmail(mail: MailMessage, kind: 'reminder' | 'escalation', expiresAt: string): MailMessage {
  const label = kind === 'reminder' ? 'reminder' : 'escalated';
  const note = kind === 'reminder' ? `Reminder: nobody has decided yet, and this approval expires at ${expiresAt}.` : `Escalated to you: nobody has decided yet, so you may now decide too. It expires at ${expiresAt}.`;
  return {
    ...mail,
    subject: mail.subject.replace(/^\[looprail\] /, `[looprail] ${label}: `),
    text: `${note}\n\n${mail.text}`,
    html: mail.html?.replace('<body style="font-family:sans-serif">', `<body style="font-family:sans-serif">\n<p><strong>${escapeHtml(note)}</strong></p>`),
  };
}

/** Sent to the approvers when nobody decided in time: the run stopped `approval_expired`. */
export function expiredEmail(facts: Pick<ApprovalMailFacts, 'agent' | 'runId' | 'approvalId' | 'expiresAt' | 'traceUrl'>, recipients: string[]): MailMessage {
  const subject = `[looprail] approval for ${facts.agent} expired: the run stopped`;
  const text = [
    `Nobody decided on approval ${facts.approvalId} before it expired at ${facts.expiresAt}.`,
    `Run ${facts.runId} of ${facts.agent} stopped: approval_expired.`,
    `Trace: ${facts.traceUrl}`,
  ].join('\n');
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body style="font-family:sans-serif">`,
    `<p>Nobody decided on approval <code>${escapeHtml(facts.approvalId)}</code> before it expired at ${escapeHtml(facts.expiresAt)}.</p>`,
    `<p>Run <code>${escapeHtml(facts.runId)}</code> of <strong>${escapeHtml(facts.agent)}</strong> stopped: approval_expired.</p>`,
    `<p><a href="${escapeHtml(facts.traceUrl)}">The run's trace</a></p>`,
    '</body></html>',
  ].join('\n');
  return { to: recipients, subject, text, html };
}
