import { DEFAULT_HARNESS } from '../definitions/agent.ts';
import { toolCallsOf } from '../definitions/messages.ts';
import { untrustedWrite, type Control } from '../definitions/run.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { approvalFor } from '../policy/approval-rules.ts';
import type { ApprovalRecord } from '../ports/run-store.ts';
import { publish, type RunDeps } from './deps.ts';
import { approvalIdFor } from './ids.ts';
import { loadStartedRun } from './load.ts';
import { StepWriter } from './step-writer.ts';
import { notifyRun } from './notify.ts';

/**
 * RequestApproval: the run pauses until a human decides. The task token is stored with
 * the approval record, server-side, and goes nowhere else (not in the trace, a log, or
 * the state machine's output). Notifying approvers is the approval flow's job.
 */
export async function requestApprovalStep(deps: RunDeps, input: { runId: string; seq: number; taskToken: string }): Promise<{ approvalId: string }> {
  const state = await loadStartedRun(deps, input.runId);
  const approvalId = approvalIdFor(input.runId, input.seq);
  if (state.meta.seq !== input.seq) {
    // A retry after the commit: the record and the pause are already there.
    if (state.meta.pendingApprovalId === approvalId) return { approvalId };
    throw new ValidationError(`run ${input.runId} is at seq ${state.meta.seq}; the approval request expected ${input.seq}`);
  }
  const now = deps.clock.now();
  if (state.meta.pendingBudgetRequest) return pauseForBudget(deps, state, input, approvalId, now);
  const last = [...state.messages].reverse().find((message) => message.role === 'assistant');
  const calls = last ? toolCallsOf(last) : [];
  const needing = calls
    .map((call) => ({ call, spec: state.context.tools.find((tool) => tool.name === call.name && !tool.builtin) }))
    .map(({ call, spec }) => ({ call, spec, requirement: spec ? approvalFor(spec, state.context.view.approvals, DEFAULT_HARNESS.approval_timeout_seconds, untrustedWrite(state.meta, state.context.view.approveWritesAfterUntrusted)) : null }))
    .filter((entry) => entry.requirement !== null);
  if (needing.length === 0) throw new ValidationError(`run ${input.runId} asked for an approval that none of its tool calls needs`);
  const timeoutSeconds = Math.min(...needing.map((entry) => entry.requirement!.timeoutSeconds));
  const record: ApprovalRecord = {
    approvalId,
    runId: input.runId,
    seq: input.seq,
    taskToken: input.taskToken,
    tools: needing.map((entry) => `${entry.spec!.server}.${entry.spec!.tool}`),
    callIds: needing.map((entry) => entry.call.id),
    reasons: [...new Set(needing.flatMap((entry) => entry.requirement!.reasons))],
    approvers: [...new Set(needing.flatMap((entry) => entry.requirement!.approvers))],
    status: 'pending',
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + timeoutSeconds * 1000).toISOString(),
  };
  await deps.store.putApproval(record);
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
  await publish(deps, { type: 'looprail.run.paused', runId: input.runId, agent: state.meta.agent, detail: { approvalId, tools: record.tools, reasons: record.reasons, expiresAt: record.expiresAt } });
  // Notifications (agent `notify:`): after the pause is committed; never fail the step.
  await notifyRun(deps, writer.meta, 'paused', { loaded: { view: state.context.view, messages: state.messages }, pause: { tools: record.tools, reasons: record.reasons, expiresAt: record.expiresAt } });
  return { approvalId };
}

/** The budget flavour of a pause: the approver is asked for more allowance, not for tool calls. */
async function pauseForBudget(deps: RunDeps, state: Awaited<ReturnType<typeof loadStartedRun>>, input: { runId: string; seq: number; taskToken: string }, approvalId: string, now: Date) {
  const request = state.meta.pendingBudgetRequest!;
  const record: ApprovalRecord = {
    approvalId,
    runId: input.runId,
    seq: input.seq,
    taskToken: input.taskToken,
    tools: [],
    callIds: [],
    reasons: [request.detail],
    approvers: [],
    status: 'pending',
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + DEFAULT_HARNESS.approval_timeout_seconds * 1000).toISOString(),
    budget: { name: request.budget, amountMicros: request.amountMicros },
  };
  await deps.store.putApproval(record);
  const writer = new StepWriter(state.meta);
  writer.meta.status = 'paused';
  writer.meta.pendingApprovalId = approvalId;
  writer.addTrace({ kind: 'approval_requested', role: state.context.view.role, name: `budget ${request.budget}`, status: 'ok', startedAt: now.toISOString(), endedAt: now.toISOString(), latencyMs: 0, detail: `approval ${approvalId}: ${request.detail}` });
  await writer.commit(deps, 'approval');
  await publish(deps, { type: 'looprail.run.paused', runId: input.runId, agent: state.meta.agent, detail: { approvalId, budget: request.budget, amountUsd: request.amountMicros / 1e6, expiresAt: record.expiresAt } });
  // Notifications (agent `notify:`): after the pause is committed; never fail the step.
  await notifyRun(deps, writer.meta, 'paused', { loaded: { view: state.context.view, messages: state.messages }, pause: { tools: [], reasons: record.reasons, expiresAt: record.expiresAt, budget: { name: request.budget, amountMicros: request.amountMicros } } });
  return { approvalId };
}

/**
 * Records an approver's "approve" and returns what the host sends back to the waiting
 * execution (SendTaskSuccess with `output`). Rejections and the emailed, signed flow
 * belong to the approval module that builds on this.
 */
export async function approveCalls(deps: RunDeps, approvalId: string): Promise<{ taskToken: string; output: Control }> {
  const record = await deps.store.getApproval(approvalId);
  if (!record) throw new NotFoundError(`approval ${approvalId} does not exist`);
  const meta = await deps.store.getRun(record.runId);
  if (!meta || meta.pendingApprovalId !== approvalId) throw new ValidationError(`approval ${approvalId} is no longer pending`);
  const writer = new StepWriter(meta);
  writer.meta.status = 'running';
  if (record.budget) {
    // More allowance for this run on that budget; the model call is tried again.
    const allowances = { ...writer.meta.budgetAllowances };
    allowances[record.budget.name] = (allowances[record.budget.name] ?? 0) + record.budget.amountMicros;
    writer.meta.budgetAllowances = allowances;
    writer.meta.pendingBudgetRequest = undefined;
    const output = await writer.commit(deps, 'model', {}, 'throw');
    return { taskToken: record.taskToken, output };
  }
  writer.meta.approvedCallIds = record.callIds;
  const output = await writer.commit(deps, 'tools', {}, 'throw');
  return { taskToken: record.taskToken, output };
}
