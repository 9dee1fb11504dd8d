import { ApprovalRefusedError } from '../../core/approvals/errors.ts';
import { decideApproval, checkApprover, pendingApproval, MAX_COMMENT_CHARS } from '../../core/approvals/decide.ts';
import { formToken, verifyFormToken, verifyLink, type LinkClaims } from '../../core/approvals/links.ts';
import { traceUrl } from '../../core/approvals/notify.ts';
import { toolCallsOf } from '../../core/definitions/messages.ts';
import { runUsage } from '../../core/definitions/run.ts';
import * as z from '../../core/definitions/zod.ts';
import { approvalRisk } from '../../core/approvals/risk.ts';
import { expiryInWords } from '../../core/format/relative-time.ts';
import type { ApprovalDecision, ApprovalRecord } from '../../core/ports/run-store.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { loadStartedRun, type StartedRunState } from '../../core/run/load.ts';
import { screenValue } from '../../core/run/screening.ts';
import { HttpError, json, parseBody, type Router } from './router.ts';
import type { HttpRequest, HttpResponse, RouteHandler } from './types.ts';
import { confirmationPage, decidedPage, refusalPage, type Asked } from './approval-views.ts';

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
 * Every refusal is a clear page (4xx) and changes nothing. The HTML is approval-views.ts's.
 */

const DecisionForm = z.object({
  form_token: z.optional(z.string()),
  decision: z.optional(z.enum(['approve', 'reject'])),
  comment: z.optional(
    z.string().check(z.maxLength(MAX_COMMENT_CHARS, `the comment is longer than ${MAX_COMMENT_CHARS} characters`)),
  ),
});

export const OperatorDecisionBody = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  comment: z.optional(z.string().check(z.maxLength(MAX_COMMENT_CHARS))),
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
  const confirmation = asPage((request, params) => confirm(deps, request, params.approvalId!));
  router.get('/approvals/:approvalId', confirmation);
  router.add('HEAD', '/approvals/:approvalId', async (request, params) => headOf(await confirmation(request, params)));
  router.post(
    '/approvals/:approvalId',
    asPage((request, params) => decideByLink(deps, request, params.approvalId!)),
  );
  // The operator's way (`looprail approve|reject ID`): authenticated by the host like all of /v1.
  const byOperator: RouteHandler = (request, params) => decideByOperator(deps, request, params.approvalId!);
  router.post('/v1/approvals/:approvalId/decision', byOperator);
}

/** A refusal is a page that changes nothing; anything else goes on to the router. */
function asPage(handler: RouteHandler): RouteHandler {
  return async (request, params) => {
    try {
      return await handler(request, params);
    } catch (error) {
      if (error instanceof ApprovalRefusedError) return refusalPage(error);
      throw error;
    }
  };
}

/** For HEAD: the same status and headers as GET, no body. */
function headOf(response: HttpResponse): HttpResponse {
  return { status: response.status, headers: response.headers };
}

async function signingKey(deps: RunDeps): Promise<string> {
  const flow = deps.approvals;
  if (!flow)
    throw new ApprovalRefusedError('unavailable', 'this host has no approval settings (signing key, base URL)');
  try {
    return await flow.secrets.get(flow.signingSecret);
  } catch (error) {
    deps.log.error('approval signing key unavailable', { secret: flow.signingSecret, error: (error as Error).name });
    throw new ApprovalRefusedError('unavailable', 'the approval signing key cannot be read right now; try again later');
  }
}

interface CheckedLink {
  claims: LinkClaims;
  signature: string;
  key: string;
}

/** The link's claims, or a refusal: signature first, then expiry. */
async function checkLink(deps: RunDeps, request: HttpRequest, approvalId: string): Promise<CheckedLink> {
  const key = await signingKey(deps);
  const check = verifyLink(key, approvalId, request.query, deps.clock.now());
  if (!check.ok) {
    throw new ApprovalRefusedError(check.reason === 'expired' ? 'link_expired' : 'invalid_link', check.message);
  }
  return { claims: check.claims, signature: check.signature, key };
}

/** GET: the confirmation page. It reads only. */
async function confirm(deps: RunDeps, request: HttpRequest, approvalId: string): Promise<HttpResponse> {
  const { claims, signature, key } = await checkLink(deps, request, approvalId);
  const { record, meta } = await pendingApproval(deps, approvalId);
  checkApprover(record, claims.recipient);
  const state = await loadStartedRun(deps, record.runId);
  const query = new URLSearchParams(request.query as Record<string, string>).toString();
  const costMicros = runUsage(meta).costMicros;
  return confirmationPage({
    asking: record.budget ? 'more budget' : record.tools.join(', '),
    agent: meta.agent,
    runId: meta.runId,
    asked: askedOf(deps, record, state),
    reasons: record.reasons,
    expires: expiryInWords(record.expiresAt, deps.clock.now()),
    risk: approvalRisk({
      destructiveTools: record.tools.filter((name) =>
        state.context.tools.some((tool) => `${tool.server}.${tool.tool}` === name && tool.destructive),
      ),
      untrusted: meta.untrusted === true,
      costMicros,
      maxCostMicros: state.context.view.limits.maxCostMicros,
    }),
    traceUrl: traceUrl(deps.approvals!.baseUrl(), meta.runId),
    action: `/approvals/${encodeURIComponent(approvalId)}?${query}`,
    formToken: formToken(key, signature),
    recipient: claims.recipient,
  });
}

/** POST from the page: the form, checked (type, fields, anti-forgery token), then the decision. */
async function decideByLink(deps: RunDeps, request: HttpRequest, approvalId: string): Promise<HttpResponse> {
  const { claims, signature, key } = await checkLink(deps, request, approvalId);
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new ApprovalRefusedError('missing_field', 'send the decision with the form on the approval page');
  }
  const parsed = DecisionForm.safeParse(Object.fromEntries(new URLSearchParams(request.rawBody.toString('utf8'))));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ApprovalRefusedError('missing_field', problems);
  }
  const form = parsed.data;
  if (!verifyFormToken(key, signature, form.form_token)) {
    const message =
      "the form's anti-forgery field is missing or wrong: open the link from the email and use its buttons";
    throw new ApprovalRefusedError('forged', message);
  }
  if (!form.decision) throw new ApprovalRefusedError('missing_field', 'choose Approve or Reject');
  const result = await decideApproval(deps, {
    approvalId,
    outcome: form.decision === 'approve' ? 'approved' : 'rejected',
    via: { kind: 'link', recipient: claims.recipient },
    comment: form.comment,
  });
  return decidedPage(result, traceUrl(deps.approvals!.baseUrl(), result.record.runId));
}

async function decideByOperator(deps: RunDeps, request: HttpRequest, approvalId: string): Promise<HttpResponse> {
  if (!request.principal) throw new HttpError(401, 'unauthenticated', 'this endpoint needs an authenticated caller');
  const body = parseBody(request, OperatorDecisionBody);
  try {
    const result = await decideApproval(deps, {
      approvalId,
      outcome: body.decision === 'approve' ? 'approved' : 'rejected',
      via: { kind: 'operator', principal: request.principal },
      comment: body.comment,
    });
    const answer: OperatorDecision = {
      approvalId: result.record.approvalId,
      runId: result.record.runId,
      status: result.decision.outcome,
      decision: result.decision,
      stopsRun: result.stopsRun,
      delivered: result.delivered,
      ...(result.waitingFor ? { waitingFor: result.waitingFor } : {}),
    };
    return json(200, answer);
  } catch (error) {
    if (error instanceof ApprovalRefusedError) throw new HttpError(error.status, error.code, error.message);
    throw error;
  }
}

/** The calls (tool, redacted exact arguments) or the budget asked for. */
function askedOf(deps: RunDeps, record: ApprovalRecord, state: StartedRunState): Asked {
  if (record.budget) return { budget: record.budget };
  const last = [...state.messages].reverse().find((message) => message.role === 'assistant');
  const calls = (last ? toolCallsOf(last) : []).filter((call) => record.callIds.includes(call.id));
  return {
    calls: calls.map((call) => ({
      tool: record.tools[record.callIds.indexOf(call.id)] ?? call.name,
      arguments: screenValue(deps, state.context.view, call.arguments, 'tool_input').value,
    })),
  };
}
