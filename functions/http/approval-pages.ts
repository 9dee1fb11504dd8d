import { z } from 'zod';
import { ApprovalRefusedError } from '../../core/approvals/errors.ts';
import { decideApproval, checkApprover, pendingApproval, MAX_COMMENT_CHARS } from '../../core/approvals/decide.ts';
import { escapeHtml, usd } from '../../core/approvals/email.ts';
import { formToken, verifyFormToken, verifyLink, type LinkClaims } from '../../core/approvals/links.ts';
import { traceUrl } from '../../core/approvals/notify.ts';
import { toolCallsOf } from '../../core/definitions/messages.ts';
import { runUsage } from '../../core/definitions/run.ts';
import type { ApprovalDecision, ApprovalRecord } from '../../core/ports/run-store.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { loadStartedRun } from '../../core/run/load.ts';
import { screenValue } from '../../core/run/screening.ts';
import { HttpError, json, parseBody, type Router } from './router.ts';
import type { HttpRequest, HttpResponse } from './types.ts';

/**
 * The approval pages, outside /v1: a signed link proves who it was mailed to.
 *
 * - GET (and HEAD) /approvals/:id?r&e&s shows what is asked and an Approve / Reject form.
 *   It never decides: mail scanners and link previews fetch links, and the page has no
 *   script at all (its CSP forbids any), so nothing submits without a real click.
 * - POST to the same URL decides once, with the form's anti-forgery field (derived from
 *   the link's signature) and an optional comment.
 * - POST /v1/approvals/:id/decision is the same decision for an authenticated operator
 *   (`looprail approve|reject`).
 *
 * Every refusal is a clear page (4xx) and changes nothing.
 */

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // No script, no frames, forms only back to this app; the link's signature never leaks through a Referer.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

function page(status: number, title: string, body: string): HttpResponse {
  const html = [
    '<!doctype html>',
    `<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title>`,
    '<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}pre{white-space:pre-wrap;background:#f4f4f4;padding:.6rem}button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}textarea{width:100%}.note{color:#555}</style>',
    `</head><body><h1>${escapeHtml(title)}</h1>`,
    body,
    '</body></html>',
  ].join('\n');
  return { status, headers: { ...PAGE_HEADERS }, body: html };
}

const TITLES: Record<string, string> = {
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

function refusalPage(error: ApprovalRefusedError): HttpResponse {
  return page(error.status, TITLES[error.code] ?? 'Refused', `<p>${escapeHtml(error.message)}</p><p class="note">Nothing was changed.</p>`);
}

/** For HEAD: the same status and headers as GET, no body. */
function headOf(response: HttpResponse): HttpResponse {
  return { status: response.status, headers: response.headers };
}

const DecisionForm = z.object({
  form_token: z.string().optional(),
  decision: z.enum(['approve', 'reject']).optional(),
  comment: z.string().max(MAX_COMMENT_CHARS, `the comment is longer than ${MAX_COMMENT_CHARS} characters`).optional(),
});

export const OperatorDecisionBody = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  comment: z.string().max(MAX_COMMENT_CHARS).optional(),
});
export type OperatorDecisionBody = z.infer<typeof OperatorDecisionBody>;

export interface OperatorDecision {
  approvalId: string;
  runId: string;
  status: 'approved' | 'rejected';
  decision: ApprovalDecision;
  stopsRun: boolean;
  delivered: boolean;
  /** Two-person rule: approvers still needed (the call has not run yet). */
  waitingFor?: number;
}

export function registerApprovalRoutes(router: Router, deps: RunDeps): void {
  const key = async (): Promise<string> => {
    const flow = deps.approvals;
    if (!flow) throw new ApprovalRefusedError('unavailable', 'this host has no approval settings (signing key, base URL)');
    try {
      return await flow.secrets.get(flow.signingSecret);
    } catch (error) {
      deps.log.error('approval signing key unavailable', { secret: flow.signingSecret, error: (error as Error).name });
      throw new ApprovalRefusedError('unavailable', 'the approval signing key cannot be read right now; try again later');
    }
  };

  /** The link's claims, or a refusal: signature first, then expiry. */
  const checkLink = async (request: HttpRequest, approvalId: string): Promise<{ claims: LinkClaims; signature: string; key: string }> => {
    const signingKey = await key();
    const check = verifyLink(signingKey, approvalId, request.query, deps.clock.now());
    if (!check.ok) throw new ApprovalRefusedError(check.reason === 'expired' ? 'link_expired' : 'invalid_link', check.message);
    return { claims: check.claims, signature: check.signature, key: signingKey };
  };

  const confirmation = async (request: HttpRequest, approvalId: string): Promise<HttpResponse> => {
    try {
      const { claims, signature, key: signingKey } = await checkLink(request, approvalId);
      const { record, meta } = await pendingApproval(deps, approvalId);
      checkApprover(record, claims.recipient);
      const details = await detailsHtml(deps, record);
      const action = `/approvals/${encodeURIComponent(approvalId)}?${new URLSearchParams(request.query as Record<string, string>).toString()}`;
      return page(
        200,
        `Approve ${record.budget ? 'more budget' : record.tools.join(', ')}?`,
        [
          `<p>Agent <strong>${escapeHtml(meta.agent)}</strong>, run <code>${escapeHtml(meta.runId)}</code>, is waiting for a decision.</p>`,
          details,
          `<p>Cost so far: ${escapeHtml(usd(runUsage(meta).costMicros))} · expires ${escapeHtml(record.expiresAt)} · <a href="${escapeHtml(traceUrl(deps.approvals!.baseUrl(), meta.runId))}">trace</a></p>`,
          `<form method="post" action="${escapeHtml(action)}">`,
          `<input type="hidden" name="form_token" value="${escapeHtml(formToken(signingKey, signature))}">`,
          `<p><label for="comment">Comment (optional; the agent reads it on a rejection)</label><br><textarea id="comment" name="comment" rows="3" maxlength="${MAX_COMMENT_CHARS}"></textarea></p>`,
          '<p><button type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="reject">Reject</button></p>',
          '</form>',
          `<p class="note">Deciding as ${escapeHtml(claims.recipient)}. Opening this page changed nothing; only a button does, once.</p>`,
        ].join('\n'),
      );
    } catch (error) {
      if (error instanceof ApprovalRefusedError) return refusalPage(error);
      throw error;
    }
  };

  router.get('/approvals/:approvalId', async (request, params) => confirmation(request, params.approvalId!));
  router.add('HEAD', '/approvals/:approvalId', async (request, params) => headOf(await confirmation(request, params.approvalId!)));

  router.post('/approvals/:approvalId', async (request, params) => {
    const approvalId = params.approvalId!;
    try {
      const { claims, signature, key: signingKey } = await checkLink(request, approvalId);
      const type = request.headers['content-type'] ?? '';
      if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
        throw new ApprovalRefusedError('missing_field', 'send the decision with the form on the approval page');
      }
      const parsed = DecisionForm.safeParse(Object.fromEntries(new URLSearchParams(request.rawBody.toString('utf8'))));
      if (!parsed.success) throw new ApprovalRefusedError('missing_field', parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
      const form = parsed.data;
      if (!verifyFormToken(signingKey, signature, form.form_token)) {
        throw new ApprovalRefusedError('forged', 'the form\'s anti-forgery field is missing or wrong: open the link from the email and use its buttons');
      }
      if (!form.decision) throw new ApprovalRefusedError('missing_field', 'choose Approve or Reject');
      const result = await decideApproval(deps, {
        approvalId,
        outcome: form.decision === 'approve' ? 'approved' : 'rejected',
        via: { kind: 'link', recipient: claims.recipient },
        comment: form.comment,
      });
      if (result.waitingFor) {
        return page(200, 'Approval recorded', `<p>Approved by ${escapeHtml(result.decision.by)}. This call needs two different approvers: ${result.waitingFor} more must approve before it runs.</p>`);
      }
      const next = result.decision.outcome === 'approved' ? 'The run goes on: the approved call runs now.' : result.stopsRun ? 'The run stops: rejected.' : 'The agent is told the call was rejected (with your comment) and may go on without it.';
      return page(
        200,
        result.decision.outcome === 'approved' ? 'Approved' : 'Rejected',
        [
          `<p>${escapeHtml(result.decision.outcome === 'approved' ? 'Approved' : 'Rejected')} by ${escapeHtml(result.decision.by)} at ${escapeHtml(result.decision.at)}.</p>`,
          `<p>${escapeHtml(result.delivered ? next : 'The decision is recorded, but the run had already stopped waiting.')}</p>`,
          `<p><a href="${escapeHtml(traceUrl(deps.approvals!.baseUrl(), result.record.runId))}">The run's trace</a></p>`,
        ].join('\n'),
      );
    } catch (error) {
      if (error instanceof ApprovalRefusedError) return refusalPage(error);
      throw error;
    }
  });

  // The operator's way (`looprail approve|reject ID`): authenticated by the host like all of /v1.
  router.post('/v1/approvals/:approvalId/decision', async (request, params) => {
    if (!request.principal) throw new HttpError(401, 'unauthenticated', 'this endpoint needs an authenticated caller');
    const body = parseBody(request, OperatorDecisionBody);
    try {
      const result = await decideApproval(deps, {
        approvalId: params.approvalId!,
        outcome: body.decision === 'approve' ? 'approved' : 'rejected',
        via: { kind: 'operator', principal: request.principal },
        comment: body.comment,
      });
      const answer: OperatorDecision = { approvalId: result.record.approvalId, runId: result.record.runId, status: result.decision.outcome, decision: result.decision, stopsRun: result.stopsRun, delivered: result.delivered, ...(result.waitingFor ? { waitingFor: result.waitingFor } : {}) };
      return json(200, answer);
    } catch (error) {
      if (error instanceof ApprovalRefusedError) throw new HttpError(error.status, error.code, error.message);
      throw error;
    }
  });
}

/** The calls (tool, redacted exact arguments) or the budget asked for, and why. */
async function detailsHtml(deps: RunDeps, record: ApprovalRecord): Promise<string> {
  const reasons = `<p>Why a human must decide:</p><ul>${record.reasons.map((reason) => `<li>${escapeHtml(reason)}</li>`).join('')}</ul>`;
  if (record.budget) return `<p>It asks for +${escapeHtml(usd(record.budget.amountMicros))} on budget <code>${escapeHtml(record.budget.name)}</code>.</p>${reasons}`;
  const state = await loadStartedRun(deps, record.runId);
  const last = [...state.messages].reverse().find((message) => message.role === 'assistant');
  const calls = (last ? toolCallsOf(last) : []).filter((call) => record.callIds.includes(call.id));
  const items = calls.map((call) => {
    const shown = screenValue(deps, state.context.view, call.arguments, 'tool_input').value;
    return `<li><code>${escapeHtml(record.tools[record.callIds.indexOf(call.id)] ?? call.name)}</code><pre>${escapeHtml(JSON.stringify(shown ?? {}, null, 2))}</pre></li>`;
  });
  return `<p>It wants to call:</p><ul>${items.join('')}</ul>${reasons}`;
}
