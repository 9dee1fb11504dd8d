import { toolCallsOf } from '../definitions/messages.ts';
import { runUsage, type RunMeta } from '../definitions/run.ts';
import type { ApprovalRecord, ApprovalStore } from '../ports/store/approvals.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import type { RunDeps } from '../run/deps.ts';
import type { StartedRunState } from '../run/load.ts';
import { screenValue } from '../run/screening.ts';
import { approvalEmail, expiredEmail, followUpEmail, type ApprovalMailFacts } from './email.ts';
import { approvalLink, expirySeconds } from './links.ts';

/** `<base>/v1/runs/<id>/trace`: where the mails point for the run's trace. */
export function traceUrl(baseUrl: string, runId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/v1/runs/${encodeURIComponent(runId)}/trace`;
}

/**
 * Mails each approver their own signed link. Called after the pause is committed; a mail
 * that cannot be sent is logged (never with the link) and the approval stays pending for
 * `looprail approve` or the API. Returns the recipients mailed.
 */
export async function mailApprovers(
  deps: Pick<RunDeps, 'approvals' | 'mailer' | 'log' | 'guardrailRules'>,
  record: ApprovalRecord,
  state: StartedRunState,
  meta: RunMeta,
  options: { kind?: 'reminder' | 'escalation' } = {},
): Promise<string[]> {
  const flow = deps.approvals;
  if (!flow || !deps.mailer) {
    deps.log.info('approval not mailed: no mailer or approval settings configured', { approvalId: record.approvalId });
    return [];
  }
  if (record.approvers.length === 0) {
    deps.log.warn('approval not mailed: no approvers (declare approvers on the rule, or org-wide fallback approvers)', {
      approvalId: record.approvalId,
    });
    return [];
  }
  const sent: string[] = [];
  try {
    const key = await flow.secrets.get(flow.signingSecret);
    const base = flow.baseUrl();
    const last = [...state.messages].reverse().find((message) => message.role === 'assistant');
    const calls = (last ? toolCallsOf(last) : []).filter((call) => record.callIds.includes(call.id));
    const facts: ApprovalMailFacts = {
      agent: meta.agent,
      runId: meta.runId,
      approvalId: record.approvalId,
      // What the approver sees passes the same guardrails as what is recorded.
      calls: calls.map((call) => ({
        tool: record.tools[record.callIds.indexOf(call.id)] ?? call.name,
        arguments: screenValue(deps, state.context.view, call.arguments, 'tool_input').value,
      })),
      budget: record.budget,
      reasons: record.reasons,
      costMicros: runUsage(meta).costMicros,
      expiresAt: record.expiresAt,
      traceUrl: traceUrl(base, meta.runId),
    };
    for (const recipient of record.approvers) {
      const link = approvalLink(base, key, {
        approvalId: record.approvalId,
        recipient,
        expires: expirySeconds(record.expiresAt),
      });
      const mail = approvalEmail(facts, recipient, link);
      await deps.mailer.send(options.kind ? followUpEmail(mail, options.kind, facts.expiresAt) : mail);
      sent.push(recipient);
    }
  } catch (error) {
    deps.log.warn('approval mail failed', {
      approvalId: record.approvalId,
      mailed: sent.length,
      error: (error as Error).name,
      message: (error as Error).message,
    });
  }
  return sent;
}

/** After the run stopped `approval_expired`: the approval is marked expired and its approvers are told. */
export async function approvalExpired(
  deps: Pick<RunDeps, 'approvals' | 'mailer' | 'log'> & { store: RunRecordStore & ApprovalStore },
  approvalId: string,
): Promise<void> {
  // After the run is closed: nothing here may fail the step that closed it.
  try {
    const record = await deps.store.getApproval(approvalId);
    if (!record || !(await deps.store.settleApproval(approvalId, 'expired'))) return;
    if (!deps.mailer || !deps.approvals || record.approvers.length === 0) return;
    const meta = await deps.store.getRun(record.runId);
    await deps.mailer.send(
      expiredEmail(
        {
          agent: meta?.agent ?? 'unknown',
          runId: record.runId,
          approvalId,
          expiresAt: record.expiresAt,
          traceUrl: traceUrl(deps.approvals.baseUrl(), record.runId),
        },
        record.approvers,
      ),
    );
  } catch (error) {
    deps.log.warn('approval expiry mail failed', {
      approvalId,
      error: (error as Error).name,
      message: (error as Error).message,
    });
  }
}
