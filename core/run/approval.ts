import { DEFAULT_HARNESS } from '../definitions/harness.ts';
import { toolCallsOf } from '../definitions/messages.ts';
import { untrustedWrite, type Control } from '../definitions/run.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { approvalFor } from '../policy/approval-rules.ts';
import type { ApprovalRecord, ApprovalStore } from '../ports/store/approvals.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import { publish, type RunDeps } from './deps.ts';
import { approvalIdFor } from './ids.ts';
import { loadStartedRun } from './load.ts';
import { answeredWithoutRunning } from './unasked-calls.ts';
import { StepWriter } from './step-writer.ts';
import { notifyRun } from './notify.ts';
import { callBinding } from '../approvals/binding.ts';
import { mailApprovers } from '../approvals/notify.ts';
import { approvalSchedule } from '../approvals/reminders.ts';

/** What RequestApproval uses: the run records and approvals, and everyone the pause is announced and mailed to. */
export type RequestApprovalDeps = Pick<
  RunDeps,
  'clock' | 'log' | 'events' | 'mailer' | 'webhooks' | 'approvals' | 'guardrailRules'
> & {
  store: RunRecordStore & ApprovalStore;
};

/**
 * RequestApproval: the run pauses until a human decides. The task token is stored with
 * the approval record, server-side, and goes nowhere else (not in the trace, a log, or
 * the state machine's output). Notifying approvers is the approval flow's job.
 */
export async function requestApprovalStep(
  deps: RequestApprovalDeps,
  input: { runId: string; seq: number; taskToken: string },
): Promise<{ approvalId: string }> {
  const state = await loadStartedRun(deps, input.runId);
  const approvalId = approvalIdFor(input.runId, input.seq);
  if (state.meta.seq !== input.seq) {
    // A retry after the commit: the record and the pause are already there, but this
    // attempt's task token is the one the execution now waits on.
    if (state.meta.pendingApprovalId === approvalId) {
      await deps.store.renewApprovalToken(approvalId, input.taskToken);
      return { approvalId };
    }
    throw new ValidationError(
      `run ${input.runId} is at seq ${state.meta.seq}; the approval request expected ${input.seq}`,
    );
  }
  const now = deps.clock.now();
  if (state.meta.pendingBudgetRequest) return pauseForBudget(deps, state, input, approvalId, now);
  const last = [...state.messages].reverse().find((message) => message.role === 'assistant');
  const calls = last ? toolCallsOf(last) : [];
  const needing = calls
    .filter((call) => !answeredWithoutRunning(state.context, state.meta, call))
    .map((call) => ({ call, spec: state.context.tools.find((tool) => tool.name === call.name && !tool.builtin) }))
    .map(({ call, spec }) => ({
      call,
      spec,
      requirement: spec
        ? approvalFor(
            spec,
            state.context.view.approvals,
            DEFAULT_HARNESS.approval_timeout_seconds,
            untrustedWrite(state.meta, state.context.view.approveWritesAfterUntrusted),
          )
        : null,
    }))
    .filter((entry) => entry.requirement !== null);
  if (needing.length === 0)
    throw new ValidationError(`run ${input.runId} asked for an approval that none of its tool calls needs`);
  const timeoutSeconds = Math.min(...needing.map((entry) => entry.requirement!.timeoutSeconds));
  const record: ApprovalRecord = {
    approvalId,
    runId: input.runId,
    seq: input.seq,
    taskToken: input.taskToken,
    tools: needing.map((entry) => `${entry.spec!.server}.${entry.spec!.tool}`),
    callIds: needing.map((entry) => entry.call.id),
    reasons: [...new Set(needing.flatMap((entry) => entry.requirement!.reasons))],
    approvers: approversOrFallback(deps, state.meta, [
      ...new Set(needing.flatMap((entry) => entry.requirement!.approvers)),
    ]),
    status: 'pending',
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + timeoutSeconds * 1000).toISOString(),
    onReject: needing.some((entry) => entry.requirement!.onReject === 'stop') ? 'stop' : 'continue',
    ...(needing.some((entry) => (entry.requirement!.requiredApprovals ?? 1) > 1) ? { requiredApprovals: 2 } : {}),
    // What the approver is shown is what may run: tool, exact arguments, policy version.
    bindings: needing.map((entry) => ({
      callId: entry.call.id,
      hash: callBinding(`${entry.spec!.server}.${entry.spec!.tool}`, entry.call.arguments, state.context.view.version),
    })),
    // The rules' reminder and escalation, as times a sweeper acts on (core/approvals/reminders.ts).
    ...approvalSchedule(
      now,
      new Date(now.getTime() + timeoutSeconds * 1000),
      needing.map((entry) => entry.requirement!),
    ),
  };
  // Stored by an earlier attempt that crashed before its commit: it waits on this attempt's token now.
  if (!(await deps.store.putApproval(record))) await deps.store.renewApprovalToken(approvalId, input.taskToken);
  const writer = new StepWriter(state.meta);
  writer.meta.status = 'paused';
  writer.meta.pendingApprovalId = approvalId;
  writer.addTrace({
    kind: 'approval_requested',
    role: state.context.view.role,
    name: record.tools.join(', '),
    status: 'ok',
    startedAt: now.toISOString(),
    endedAt: now.toISOString(),
    latencyMs: 0,
    detail: `approval ${approvalId}: ${record.reasons.join('; ')}; expires ${record.expiresAt}`,
  });
  await writer.commit(deps, 'approval');
  await publish(deps, {
    type: 'looprail.run.paused',
    runId: input.runId,
    agent: state.meta.agent,
    detail: { approvalId, tools: record.tools, reasons: record.reasons, expiresAt: record.expiresAt },
  });
  // Notifications (agent `notify:`): after the pause is committed; never fail the step.
  await notifyRun(deps, writer.meta, 'paused', {
    loaded: { view: state.context.view, messages: state.messages },
    pause: { tools: record.tools, reasons: record.reasons, expiresAt: record.expiresAt },
  });
  // Each approver gets a link signed for them alone; a mail that fails leaves the approval pending (logged).
  await mailApprovers(deps, record, state, writer.meta);
  return { approvalId };
}

/**
 * Who may decide: the approvers the matching rules name; else the org-wide fallback
 * approvers; else the agent's owner when that is an email address.
 */
function approversOrFallback(deps: Pick<RunDeps, 'approvals'>, meta: { owner?: string }, named: string[]): string[] {
  if (named.length > 0) return named;
  const fallback = deps.approvals?.fallbackApprovers ?? [];
  if (fallback.length > 0) return [...new Set(fallback)];
  return meta.owner && /^[^\s@]+@[^\s@]+$/.test(meta.owner) ? [meta.owner] : [];
}

/** The budget flavour of a pause: the approver is asked for more allowance, not for tool calls. */
async function pauseForBudget(
  deps: RequestApprovalDeps,
  state: Awaited<ReturnType<typeof loadStartedRun>>,
  input: { runId: string; seq: number; taskToken: string },
  approvalId: string,
  now: Date,
) {
  const request = state.meta.pendingBudgetRequest!;
  const record: ApprovalRecord = {
    approvalId,
    runId: input.runId,
    seq: input.seq,
    taskToken: input.taskToken,
    tools: [],
    callIds: [],
    reasons: [request.detail],
    approvers: approversOrFallback(deps, state.meta, []),
    status: 'pending',
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + DEFAULT_HARNESS.approval_timeout_seconds * 1000).toISOString(),
    budget: { name: request.budget, amountMicros: request.amountMicros },
  };
  // Stored by an earlier attempt that crashed before its commit: it waits on this attempt's token now.
  if (!(await deps.store.putApproval(record))) await deps.store.renewApprovalToken(approvalId, input.taskToken);
  const writer = new StepWriter(state.meta);
  writer.meta.status = 'paused';
  writer.meta.pendingApprovalId = approvalId;
  writer.addTrace({
    kind: 'approval_requested',
    role: state.context.view.role,
    name: `budget ${request.budget}`,
    status: 'ok',
    startedAt: now.toISOString(),
    endedAt: now.toISOString(),
    latencyMs: 0,
    detail: `approval ${approvalId}: ${request.detail}`,
  });
  await writer.commit(deps, 'approval');
  await publish(deps, {
    type: 'looprail.run.paused',
    runId: input.runId,
    agent: state.meta.agent,
    detail: { approvalId, budget: request.budget, amountUsd: request.amountMicros / 1e6, expiresAt: record.expiresAt },
  });
  // Notifications (agent `notify:`): after the pause is committed; never fail the step.
  await notifyRun(deps, writer.meta, 'paused', {
    loaded: { view: state.context.view, messages: state.messages },
    pause: {
      tools: [],
      reasons: record.reasons,
      expiresAt: record.expiresAt,
      budget: { name: request.budget, amountMicros: request.amountMicros },
    },
  });
  await mailApprovers(deps, record, state, writer.meta);
  return { approvalId };
}

/**
 * Records an approver's "approve" and returns what the host sends back to the waiting
 * execution (SendTaskSuccess with `output`). Rejections and the emailed, signed flow
 * belong to the approval module that builds on this.
 */
export async function approveCalls(
  deps: Pick<RunDeps, 'clock'> & { store: RunRecordStore & ApprovalStore },
  approvalId: string,
  decidedBy?: string,
): Promise<{ taskToken: string; output: Control }> {
  const record = await deps.store.getApproval(approvalId);
  if (!record) throw new NotFoundError(`approval ${approvalId} does not exist`);
  const meta = await deps.store.getRun(record.runId);
  if (!meta || meta.pendingApprovalId !== approvalId)
    throw new ValidationError(`approval ${approvalId} is no longer pending`);
  const writer = new StepWriter(meta);
  writer.meta.status = 'running';
  // The decision is on the trace beside its request: who, and how long the run waited.
  const now = deps.clock.now();
  writer.addTrace({
    kind: 'approval_decided',
    role: meta.role,
    name: record.budget ? `budget ${record.budget.name}` : record.tools.join(', '),
    status: 'ok',
    startedAt: record.createdAt,
    endedAt: now.toISOString(),
    latencyMs: Math.max(0, now.getTime() - Date.parse(record.createdAt)),
    detail: `approval ${approvalId}: approved${decidedBy ? ` by ${decidedBy}` : ''}`,
  });
  if (record.budget) {
    // More allowance for this run on that budget; the model call is tried again.
    const allowances = { ...writer.meta.budgetAllowances };
    allowances[record.budget.name] = (allowances[record.budget.name] ?? 0) + record.budget.amountMicros;
    writer.meta.budgetAllowances = allowances;
    writer.meta.pendingBudgetRequest = undefined;
    const output = await writer.commit(deps, 'model', {}, 'throw');
    return { taskToken: record.taskToken, output };
  }
  const bindings = record.bindings?.map((binding) => [binding.callId, binding.hash] as const);
  const approvedBindings = bindings ? { approvedBindings: Object.fromEntries(bindings) } : {};
  writer.meta.turn = { ...writer.meta.turn, approvedCallIds: record.callIds, ...approvedBindings };
  const output = await writer.commit(deps, 'tools', {}, 'throw');
  return { taskToken: record.taskToken, output };
}
