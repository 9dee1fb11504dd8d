import { APPROVAL_REJECTED } from '../errors.ts';
import type { Control, RunMeta } from '../definitions/run.ts';
import type { TaskTokenSender } from '../ports/executions.ts';
import type { ApprovalDecision, ApprovalRecord, ApprovalStore } from '../ports/store/approvals.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import type { ScreenResult } from '../guardrails/types.ts';
import type { RunDeps } from '../run/deps.ts';
import { loadStartedRun, type StartedRunState } from '../run/load.ts';
import { screenText } from '../run/screening.ts';
import { StepWriter } from '../run/step-writer.ts';
import { ApprovalRefusedError, TaskGoneError } from './errors.ts';

/** What deciding uses: the approval and its run, the task sender, the guardrails on a comment. */
type DecisionDeps = Pick<RunDeps, 'clock' | 'log' | 'approvals' | 'guardrailRules'> & {
  store: RunRecordStore & ApprovalStore;
};

/**
 * Deciding an approval, once. The order matters: every check that can refuse comes
 * before the one conditional write that claims the decision (pending → approved or
 * rejected: exactly one of any number of concurrent deciders wins); the winner then
 * commits the run's next step with the decision on the trace, and only then sends the
 * task result back to the waiting execution. The task token is read here and goes only
 * to the TaskTokenSender.
 */

export const MAX_COMMENT_CHARS = 2000;

export interface DecisionRequest {
  approvalId: string;
  outcome: 'approved' | 'rejected';
  /** A link's recipient (checked against the approval's approvers), or an authenticated operator. */
  via: { kind: 'link'; recipient: string } | { kind: 'operator'; principal: string };
  comment?: string;
}

export interface DecisionResult {
  record: ApprovalRecord;
  decision: ApprovalDecision;
  /** The run stops `rejected` (on_reject: stop) rather than going on. */
  stopsRun: boolean;
  /** False when the decision was recorded but no execution was waiting any more. */
  delivered: boolean;
  /** Two-person rule: this approval is recorded, and this many more approvers must approve. */
  waitingFor?: number;
}

const sameAddress = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/** The approval and its run, when it can still be decided; a clear refusal otherwise. Reads only. */
export async function pendingApproval(
  deps: Pick<DecisionDeps, 'clock' | 'store'>,
  approvalId: string,
): Promise<{ record: ApprovalRecord; meta: RunMeta }> {
  const record = await deps.store.getApproval(approvalId);
  if (!record) throw new ApprovalRefusedError('not_found', `approval ${approvalId} does not exist`);
  if (record.status !== 'pending') {
    const decided = record.decision ? ` by ${record.decision.by} at ${record.decision.at}` : '';
    throw new ApprovalRefusedError(
      record.status === 'expired' ? 'expired' : 'already_decided',
      `approval ${approvalId} was already ${record.status}${decided}: nothing was changed`,
    );
  }
  if (deps.clock.now().getTime() >= Date.parse(record.expiresAt)) {
    throw new ApprovalRefusedError(
      'expired',
      `approval ${approvalId} expired at ${record.expiresAt}: nothing was changed`,
    );
  }
  const meta = await deps.store.getRun(record.runId);
  if (meta?.status !== 'paused' || meta.pendingApprovalId !== approvalId) {
    const state = meta ? (meta.stopReason ? `${meta.status} (${meta.stopReason})` : meta.status) : 'gone';
    throw new ApprovalRefusedError(
      'run_not_waiting',
      `run ${record.runId} is no longer waiting for this approval (it is ${state}): nothing was changed`,
    );
  }
  return { record, meta };
}

/** A link's recipient must be one of the approval's approvers (the list it was mailed to). */
export function checkApprover(record: ApprovalRecord, recipient: string): void {
  if (!record.approvers.some((approver) => sameAddress(approver, recipient))) {
    throw new ApprovalRefusedError(
      'not_allowed',
      `${recipient} is not an approver of approval ${record.approvalId}: nothing was changed`,
    );
  }
}

export async function decideApproval(deps: DecisionDeps, request: DecisionRequest): Promise<DecisionResult> {
  const tasks = deps.approvals?.tasks;
  if (!tasks)
    throw new ApprovalRefusedError(
      'unavailable',
      'this host cannot resume executions (no task sender is configured): nothing was changed',
    );
  const { record } = await pendingApproval(deps, request.approvalId);
  if (request.via.kind === 'link') checkApprover(record, request.via.recipient);
  const state = await loadStartedRun(deps, record.runId);
  const comment = screenedComment(deps, state, request.comment);
  const now = deps.clock.now();
  const who = request.via.kind === 'link' ? request.via.recipient.toLowerCase() : request.via.principal;
  let by = who;
  const required = record.requiredApprovals ?? 1;
  if (request.outcome === 'approved' && required > 1) {
    const approvedBy = await addApprover(deps, record, request, who, now);
    if (!Array.isArray(approvedBy)) return approvedBy;
    by = approvedBy.join(' and ');
  }
  const decision: ApprovalDecision = {
    outcome: request.outcome,
    by,
    at: now.toISOString(),
    ...(comment && !comment.blocked ? { comment: comment.text } : {}),
    via: request.via.kind === 'link' ? `link mailed to ${request.via.recipient}` : `operator ${request.via.principal}`,
  };
  await settle(deps, record, request.outcome, decision);

  const stopsRun = request.outcome === 'rejected' && (record.budget !== undefined || record.onReject === 'stop');
  const what = record.budget ? `budget ${record.budget.name}` : record.tools.join(', ');
  const reason = `${what} was rejected by ${decision.by}${decision.comment ? `: ${decision.comment}` : ' (no comment)'}`;
  const output = await commitDecision(deps, state, record, decision, { what, reason, stopsRun, now });
  const delivered = await deliver(deps, tasks, record, output, stopsRun, reason);
  return { record: { ...record, status: request.outcome, decision }, decision, stopsRun, delivered };
}

/** A comment reaches the trace and, on a rejection, the model: it passes the run's guardrails first. */
function screenedComment(
  deps: DecisionDeps,
  state: StartedRunState,
  comment: string | undefined,
): ScreenResult | undefined {
  const raw = (comment ?? '')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ')
    .trim()
    .slice(0, MAX_COMMENT_CHARS);
  return raw ? screenText(deps, state.context.view, raw, 'model_input') : undefined;
}

/**
 * Two-person rule: each approver is added once; only the approval that completes the set decides.
 * Returns everyone who approved, or the result for an approval that waits for more.
 */
async function addApprover(
  deps: DecisionDeps,
  record: ApprovalRecord,
  request: DecisionRequest,
  who: string,
  now: Date,
): Promise<string[] | DecisionResult> {
  const required = record.requiredApprovals ?? 1;
  const approvedBy = await deps.store.addApprover(record.approvalId, who);
  if (!approvedBy) {
    throw new ApprovalRefusedError(
      'already_decided',
      `${who} has already approved approval ${record.approvalId}, or it is no longer pending: it needs a second, different approver. Nothing was changed`,
    );
  }
  if (approvedBy.length < required) {
    deps.log.info('approval recorded; waiting for another approver', {
      approvalId: record.approvalId,
      approvals: approvedBy.length,
      required,
    });
    const partial: ApprovalDecision = {
      outcome: 'approved',
      by: who,
      at: now.toISOString(),
      via: request.via.kind === 'link' ? `link mailed to ${who}` : `operator ${who}`,
    };
    return {
      record: { ...record, approvedBy },
      decision: partial,
      stopsRun: false,
      delivered: false,
      waitingFor: required - approvedBy.length,
    };
  }
  return approvedBy;
}

/** The one conditional write that claims the decision: exactly one of any number of concurrent deciders wins. */
async function settle(
  deps: DecisionDeps,
  record: ApprovalRecord,
  outcome: DecisionRequest['outcome'],
  decision: ApprovalDecision,
): Promise<void> {
  if (!(await deps.store.settleApproval(record.approvalId, outcome, decision))) {
    const now = await deps.store.getApproval(record.approvalId);
    const by = now?.decision ? ` by ${now.decision.by} at ${now.decision.at}` : '';
    throw new ApprovalRefusedError(
      'already_decided',
      `approval ${record.approvalId} was already ${now?.status ?? 'decided'}${by}: nothing was changed`,
    );
  }
}

/** Commits the run's next step with the decision on the trace; returns the step's output for the execution. */
async function commitDecision(
  deps: DecisionDeps,
  state: StartedRunState,
  record: ApprovalRecord,
  decision: ApprovalDecision,
  { what, reason, stopsRun, now }: { what: string; reason: string; stopsRun: boolean; now: Date },
): Promise<Control> {
  const writer = new StepWriter(state.meta);
  writer.meta.status = 'running';
  writer.addTrace({
    kind: 'approval_decided',
    role: state.meta.role,
    name: what,
    status: decision.outcome === 'approved' ? 'ok' : 'denied',
    startedAt: record.createdAt,
    endedAt: decision.at,
    latencyMs: Math.max(0, now.getTime() - Date.parse(record.createdAt)),
    detail: `approval ${record.approvalId}: ${decision.outcome} by ${decision.by} at ${decision.at} (${decision.via})${decision.comment ? `: ${decision.comment}` : ''}`,
  });
  try {
    if (decision.outcome === 'approved' && record.budget) {
      const allowances = { ...writer.meta.budgetAllowances };
      allowances[record.budget.name] = (allowances[record.budget.name] ?? 0) + record.budget.amountMicros;
      writer.meta.budgetAllowances = allowances;
      writer.meta.pendingBudgetRequest = undefined;
      return await writer.commit(deps, 'model', {}, 'throw');
    } else if (decision.outcome === 'approved') {
      const bindings = (record.bindings ?? []).map((binding) => [binding.callId, binding.hash] as const);
      const approvedBindings = Object.fromEntries(bindings);
      writer.meta.turn = { ...writer.meta.turn, approvedCallIds: record.callIds, approvedBindings };
      return await writer.commit(deps, 'tools', {}, 'throw');
    } else if (stopsRun) {
      writer.meta.pendingBudgetRequest = undefined;
      writer.meta.pendingStop = { reason: 'rejected', detail: reason };
      return await writer.commit(deps, 'finish', {}, 'throw');
    } else {
      // on_reject: continue: the ToolStep answers the rejected calls with who rejected them and why.
      writer.meta.turn = { ...writer.meta.turn, rejectedCalls: { callIds: record.callIds, reason } };
      return await writer.commit(deps, 'tools', {}, 'throw');
    }
  } catch (error) {
    // The run moved on between the checks and this commit (it expired or was cancelled).
    throw new ApprovalRefusedError(
      'run_not_waiting',
      `run ${record.runId} stopped waiting while the decision was being recorded: ${(error as Error).message}`,
    );
  }
}

/** Sends the task result back to the waiting execution; false when none waits any more. */
async function deliver(
  deps: DecisionDeps,
  tasks: TaskTokenSender,
  record: ApprovalRecord,
  output: Control,
  stopsRun: boolean,
  reason: string,
): Promise<boolean> {
  try {
    if (stopsRun)
      await tasks.sendTaskFailure(record.taskToken, APPROVAL_REJECTED, reason.slice(0, 1000), {
        runId: record.runId,
        seq: output.seq,
      });
    else await tasks.sendTaskSuccess(record.taskToken, output, { runId: record.runId, seq: output.seq });
  } catch (error) {
    if (!(error instanceof TaskGoneError)) throw error;
    deps.log.warn('the decision was recorded, but no execution waits on the approval any more', {
      approvalId: record.approvalId,
      runId: record.runId,
    });
    return false;
  }
  return true;
}
