import {
  runUsage,
  type Control,
  type FailInput,
  type RunMeta,
  type StepInput,
  type StopReason,
} from '../definitions/run.ts';
import { TRIGGER_KINDS } from '../definitions/trigger-kinds.ts';
import { APPROVAL_EXPIRED, NotFoundError, ValidationError } from '../errors.ts';
import { formatUsd } from '../format/usd.ts';
import { approvalExpired } from '../approvals/notify.ts';
import { publish, type RunDeps } from './deps.ts';
import { StepWriter } from './step-writer.ts';
import type { ApprovalStore } from '../ports/store/approvals.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import { endKind, notifyRun } from './notify.ts';
import { exportFinishedRun } from './export-run.ts';
import { destroySandbox } from './sandbox-teardown.ts';
import { keepFinalAnswerNote } from './handoff.ts';

/**
 * What FinishRun and FailRun use: the run records (and an expired wait's approval), the clock,
 * and everything the end is announced to (events, telemetry, notifications, the sandbox).
 */
export type EndRunDeps = Pick<
  RunDeps,
  'clock' | 'log' | 'events' | 'telemetry' | 'sandboxes' | 'mailer' | 'webhooks' | 'approvals' | 'memory'
> & {
  store: RunRecordStore & ApprovalStore;
};

/** FinishRun: apply the stop reason the steps decided, and close the run. Idempotent. */
export async function finishRunStep(deps: EndRunDeps, input: StepInput): Promise<Control> {
  for (let attempt = 0; ; attempt++) {
    const meta = await deps.store.getRun(input.runId);
    if (!meta) throw new NotFoundError(`run ${input.runId} does not exist`);
    if (meta.status === 'finished' || meta.status === 'failed')
      return { runId: meta.runId, seq: meta.seq, next: 'finish' };
    const writer = new StepWriter(meta);
    const stop = meta.pendingStop ?? {
      reason: 'error' as const,
      detail: 'the run reached FinishRun without a stop reason',
    };
    close(deps, writer, 'finished', stop.reason, stop.detail);
    // Before the commit: a FinishRun retried after it would return above without writing the note.
    await keepFinalAnswerNote(deps, meta);
    try {
      const control = await writer.commit(deps, 'finish', {}, 'throw');
      await announceEnd(deps, writer.meta);
      await exportFinishedRun(deps, writer.meta);
      // The run's sandbox (if it had one) goes with it.
      await destroySandbox(deps, writer.meta);
      // Notifications (agent `notify:`): after the commit; never fail the step.
      await notifyRun(deps, writer.meta, endKind(writer.meta));
      return control;
    } catch (error) {
      // A step still running elsewhere moved the run on: read it again and close what is there.
      if (!(error instanceof ValidationError) || attempt >= 9) throw error;
    }
  }
}

const ERROR_STOP_REASONS: Record<string, { reason: StopReason; failed: boolean }> = {
  'looprail.ApprovalExpired': { reason: 'approval_expired', failed: false },
  'looprail.ApprovalRejected': { reason: 'rejected', failed: false },
  'States.Timeout': { reason: 'timeout', failed: true },
  // The provider stayed unavailable through every retry (and the fallback model, if any).
  'looprail.ModelUnavailable': { reason: 'model_unavailable', failed: false },
  // Still over the agent's requests_per_minute after the state machine's patient retries.
  'looprail.RateLimited': { reason: 'rate_limited', failed: false },
  // Other runs' reservations still held the budget after every patient retry.
  'looprail.BudgetContended': { reason: 'budget_exhausted', failed: false },
  // From the execution-status rule (infra/constructs/run-sweeper.ts), for endings no Catch sees.
  'looprail.ExecutionABORTED': { reason: 'cancelled', failed: false },
  'looprail.ExecutionTIMED_OUT': { reason: 'timeout', failed: true },
  'looprail.ExecutionFAILED': { reason: 'error', failed: true },
};

/** Lambda's Cause is a JSON string with errorMessage; the local host passes the message. */
function causeText(cause: unknown): string {
  if (typeof cause !== 'string') return cause === undefined ? '' : JSON.stringify(cause);
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: the message itself
  }
  return cause;
}

/**
 * FailRun: every Catch in the state machine lands here. Records the error and the stop
 * reason it implies, so no run ends without one. `failed` tells the state machine
 * whether the execution should end as failed (an error) or succeeded (a normal stop).
 */
export async function failRunStep(
  deps: EndRunDeps,
  input: FailInput,
): Promise<{ runId: string; failed: boolean; stopReason?: StopReason }> {
  const errorName = input.error?.Error ?? 'looprail.Unknown';
  const mapped = ERROR_STOP_REASONS[errorName] ?? { reason: 'error' as const, failed: true };
  const detail = `${errorName}: ${causeText(input.error?.Cause)}`.slice(0, 2000);
  for (let attempt = 0; ; attempt++) {
    const meta = await deps.store.getRun(input.runId);
    if (!meta) {
      deps.log.error('FailRun for a run that does not exist', { runId: input.runId, error: errorName });
      return { runId: input.runId, failed: true };
    }
    if (meta.status === 'finished' || meta.status === 'failed') {
      return { runId: meta.runId, failed: meta.status === 'failed', stopReason: meta.stopReason };
    }
    const writer = new StepWriter(meta);
    close(deps, writer, mapped.failed ? 'failed' : 'finished', mapped.reason, detail);
    try {
      await writer.commit(deps, 'finish', {}, 'throw');
      // Nobody decided in time: the approval is closed and its approvers are told.
      if (errorName === APPROVAL_EXPIRED && meta.pendingApprovalId) await approvalExpired(deps, meta.pendingApprovalId);
      await announceEnd(deps, writer.meta);
      await exportFinishedRun(deps, writer.meta);
      // The run's sandbox (if it had one) goes with it.
      await destroySandbox(deps, writer.meta);
      // Notifications (agent `notify:`): after the commit; never fail the step.
      await notifyRun(deps, writer.meta, endKind(writer.meta));
      return { runId: meta.runId, failed: mapped.failed, stopReason: mapped.reason };
    } catch (error) {
      if (!(error instanceof ValidationError) || attempt >= 9) throw error;
    }
  }
}

/** `looprail.run.finished`, for loops that trigger loops and for notifications. */
async function announceEnd(deps: Pick<RunDeps, 'events' | 'log'>, meta: RunMeta): Promise<void> {
  if (meta.role !== 'maker' || !TRIGGER_KINDS[meta.trigger.kind].announced) return;
  const usage = runUsage(meta);
  await publish(deps, {
    type: 'looprail.run.finished',
    runId: meta.runId,
    agent: meta.agent,
    detail: {
      status: meta.status,
      stopReason: meta.stopReason,
      stopDetail: meta.stopDetail,
      costUsd: usage.costMicros / 1e6,
      tokens: usage.inputTokens + usage.outputTokens,
      trigger: meta.trigger.kind,
    },
  });
}

function close(
  deps: Pick<RunDeps, 'clock'>,
  writer: StepWriter,
  status: 'finished' | 'failed',
  reason: StopReason,
  detail: string | undefined,
): void {
  const now = deps.clock.now();
  const m = writer.meta;
  m.status = status;
  m.stopReason = reason;
  m.stopDetail = detail;
  m.endedAt = now.toISOString();
  m.pendingApprovalId = undefined;
  // The run's place under max_concurrent_runs is given back in the same commit that ends it: exactly once.
  if (m.concurrencyHeld) {
    writer.releaseConcurrency(m.agent);
    m.concurrencyHeld = false;
  }
  const total = runUsage(m);
  // Totals are in the detail, not the token and cost fields: summing a trace's events must give the run's totals.
  writer.addTrace({
    kind: status === 'failed' ? 'run_failed' : 'run_finished',
    role: m.role,
    name: m.subagent ?? m.agent,
    status: status === 'failed' ? 'error' : 'ok',
    startedAt: m.startedAt ?? m.createdAt,
    endedAt: m.endedAt,
    latencyMs: Math.max(0, now.getTime() - Date.parse(m.startedAt ?? m.createdAt)),
    stopReason: reason,
    detail: `${detail ?? reason}; ${total.inputTokens + total.outputTokens} tokens, ${formatUsd(total.costMicros)}`,
  });
}
