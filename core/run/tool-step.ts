import { toolCallsOf, type ToolCallBlock } from '../definitions/messages.ts';
import type { Control, RunMeta, StepInput } from '../definitions/run.ts';
import { DELEGATE_TOOL_NAME } from '../loop/prompt.ts';
import { mapLimited } from './concurrency.ts';
import { notLoadedRefusal } from './deferred-tools.ts';
import { pendingDelegation } from './delegate.ts';
import type { RunDeps } from './deps.ts';
import { loadStartedRun, type StartedRunState } from './load.ts';
import { offloadTurn } from './offload.ts';
import { chargeToolCosts } from './sandbox.ts';
import { replayedControl, StepWriter } from './step-writer.ts';
import { runCall } from './tools/governed-call.ts';
import { innerCall, innerOf, notMade, refusal, type CallOutcome, type InnerCall } from './tools/outcome.ts';
import { applyPatches } from './tools/patch.ts';
import { builtinFor } from './tools/registry.ts';

const PARALLEL_CALLS = 4;

/**
 * ToolStep: run the last turn's tool calls that the agent may make, and persist every
 * result (a failed or refused call is a result the model reads, never a crash). Each call
 * goes to one of looprail's own tools (tools/registry.ts) or the governed path
 * (tools/governed-call.ts); what a call adds to the run record comes back as its patch.
 */
export async function toolStep(deps: RunDeps, input: StepInput): Promise<Control> {
  // Only the last turn's calls are run: the rest of a long conversation is not read. With the
  // control's message count, the record and that turn are one read by key.
  const state = await loadStartedRun(deps, input.runId, { lastMessages: 1, messageCount: input.messageCount });
  const replay = replayedControl(state.meta, input.seq);
  if (replay) return replay;
  const last = [...state.messages].reverse().find((message) => message.role === 'assistant');
  const calls = last ? toolCallsOf(last) : [];
  const limit = state.context.view.limits.maxToolCallsPerTurn;

  // No in-process children port: the state machine runs each sub-agent as a child execution
  // first (Delegate), one at a time, and this step comes back to write the whole turn's results.
  const delegating = calls.slice(0, limit).filter((call) => builtinFor(state, call.name)?.name === DELEGATE_TOOL_NAME);
  const handOver = await pendingDelegation(deps, state, delegating);
  if (handOver) {
    const writer = new StepWriter(state.meta);
    writer.meta.turn = { ...writer.meta.turn, delegatedRuns: [...(writer.meta.turn?.delegatedRuns ?? []), handOver] };
    return writer.commit(deps, 'delegate', { childRunId: handOver });
  }

  const done = await mapLimited(calls, PARALLEL_CALLS, (call, index) => dispatch(deps, state, call, index >= limit));
  const outcomes = await offloadTurn(deps, state, done);
  const writer = new StepWriter(state.meta);
  writeTurn(deps, writer, outcomes);
  // Every call of the turn: the model's, and the ones its scripts made.
  const every: InnerCall[] = outcomes.flatMap((outcome) => [...innerOf(outcome), innerCall(outcome)]);
  writer.meta.toolCalls += every.filter((outcome) => outcome.kind === 'executed' || outcome.called).length;
  if (every.some((outcome) => outcome.kind === 'executed')) writer.meta.untrusted = true;
  // The turn's approvals and hand-overs are used up with its results.
  writer.meta.turn = undefined;
  writer.meta.pendingApprovalId = undefined;
  writer.meta.status = 'running';
  const stop = turnStop(state, every);
  if (stop) writer.meta.pendingStop = stop;
  return writer.commit(deps, 'model');
}

/** One call: over the turn's limit, a built-in this run offers, a deferred tool not loaded yet, or the governed way. */
function dispatch(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  overLimit: boolean,
): Promise<CallOutcome> {
  const { view } = state.context;
  if (overLimit) {
    const limit = view.limits.maxToolCallsPerTurn;
    const reason = `refused: more than ${limit} tool calls in one turn (harness.max_tool_calls_per_turn)`;
    return Promise.resolve(refusal(view.role, call, reason, deps.clock.now()));
  }
  const builtin = builtinFor(state, call.name);
  if (builtin) return builtin.call(deps, state, call);
  const notLoaded = notLoadedRefusal(state.context, state.meta, call);
  if (notLoaded) {
    // Not a refusal of policy: the model only has to load the tool first.
    const { trace } = refusal(view.role, call, notLoaded, deps.clock.now());
    return Promise.resolve(notMade('invalid', call, notLoaded, { ...trace, kind: 'tool_call', status: 'error' }));
  }
  return runCall(deps, state, call, { offload: true });
}

/** The turn's results, traces, costs and patches on the run record. */
function writeTurn(deps: RunDeps, writer: StepWriter, outcomes: CallOutcome[]): void {
  if (outcomes.length > 0) writer.addMessage({ role: 'tool', content: outcomes.map((outcome) => outcome.result) });
  // A script's own calls (code mode) are traced before the run_code call that made them, which ended last.
  const innerTraces = (outcome: CallOutcome) => innerOf(outcome).map((inner) => inner.trace);
  for (const trace of outcomes.flatMap((outcome) => [...innerTraces(outcome), outcome.trace])) writer.addTrace(trace);
  // A delegation's cost was charged by the child's own steps: here it is only rolled up (its patch's subagentUsage).
  const rolledUp = (outcome: CallOutcome) => outcome.patch?.subagentUsage !== undefined;
  const own = (outcome: CallOutcome) => (rolledUp(outcome) ? [] : [outcome.trace]);
  const charged = outcomes.flatMap((outcome) => [...innerTraces(outcome), ...own(outcome)]);
  chargeToolCosts(writer, charged, deps.clock.now());
  applyPatches(
    writer.meta,
    outcomes.map((outcome) => outcome.patch),
  );
}

/** A script's refused, blocked or doubtful call stops the run as the same call made directly would. */
function turnStop(state: StartedRunState, every: InnerCall[]): RunMeta['pendingStop'] {
  const { onDeniedTool, onToolInDoubt } = state.context.view.limits;
  const blockedCall = every.find((outcome) => outcome.kind === 'blocked');
  if (blockedCall) {
    const detail = blockedCall.trace.detail ?? 'a tool call was blocked by a guardrail';
    return { reason: 'guardrail_blocked', detail };
  }
  const deniedCall = every.find((outcome) => outcome.kind === 'denied');
  if (deniedCall && onDeniedTool === 'stop') {
    return { reason: 'guardrail_blocked', detail: deniedCall.trace.detail ?? 'a tool call was refused' };
  }
  const doubtfulCall = every.find((outcome) => outcome.kind === 'in_doubt');
  if (doubtfulCall && onToolInDoubt === 'stop') {
    return { reason: 'error', detail: doubtfulCall.trace.detail ?? 'a tool call is in doubt' };
  }
  return undefined;
}
