import type { ToolCallBlock } from '../definitions/messages.ts';
import type { Control, NextStep, RunMeta } from '../definitions/run.ts';
import { TransientError } from '../errors.ts';
import type { CompletedSideEffect } from '../ports/store/runs.ts';
import { mapLimited } from './concurrency.ts';
import { notLoadedRefusal } from './deferred-tools.ts';
import type { RunDeps } from './deps.ts';
import type { StartedRunState } from './load.ts';
import { offloadTurn, turnOverThreshold } from './offload.ts';
import { chargeToolCosts, isSandboxServer } from './sandbox.ts';
import type { StepWriter } from './step-writer.ts';
import { runCall, type GovernedCallOptions } from './tools/governed-call.ts';
import { loadToolsTool } from './tools/load-tools.ts';
import { innerCall, innerOf, notMade, refusal, type CallOutcome, type InnerCall } from './tools/outcome.ts';
import { applyPatches } from './tools/patch.ts';
import { readResultTool } from './tools/read-result.ts';
import { builtinFor } from './tools/registry.ts';

/**
 * One turn's tool calls, made and written on the step's record: the ToolStep's work, and the
 * ModelStep's when every call of the turn only reads. Each call goes to one of looprail's
 * own tools (tools/registry.ts) or the governed path (tools/governed-call.ts); a failed or
 * refused call is a result the model reads, never a crash.
 */

const PARALLEL_CALLS = 4;

/** looprail's own tools that only read the run (its tool list, its stored results), answerable in a ModelStep. */
const READING_BUILTINS = new Set([loadToolsTool.name, readResultTool.name]);

/**
 * Whether the ModelStep that asked for these calls answers them itself, in the commit that
 * stores the answer: one step instead of two for a read-only turn (two store requests, not
 * four, and one Lambda invocation and state transition less). Only a turn whose every call
 * reads qualifies: a call that may write is claimed and made by the ToolStep once the
 * model's turn is committed, because a retried ModelStep asks the model again and could act
 * on another answer. The sandbox's tools and delegations go to the ToolStep too: only its
 * function may reach the sandbox broker and start child runs.
 */
export function answeredInModelStep(state: StartedRunState, calls: ToolCallBlock[]): boolean {
  return calls.every((call) => {
    const builtin = builtinFor(state, call.name);
    if (builtin) return READING_BUILTINS.has(builtin.name);
    const spec = state.context.tools.find((tool) => tool.name === call.name && !tool.builtin);
    // Refused without running: the answer needs no tool.
    if (!spec) return true;
    const server = state.context.view.servers[spec.server];
    return spec.readOnly && server !== undefined && !isSandboxServer(server);
  });
}

/** Makes the turn's calls and writes their results, traces, costs and what they change on the run record. */
export async function answerTurn(
  deps: RunDeps,
  state: StartedRunState,
  writer: StepWriter,
  calls: ToolCallBlock[],
): Promise<void> {
  const limit = state.context.view.limits.maxToolCallsPerTurn;
  // A turn of one call commits right after it: a claimed call's outcome is recorded by that
  // commit, one request instead of two. With other calls still running it is written at once.
  const unrecorded: CompletedSideEffect[] = [];
  const recordWith = calls.length === 1 ? (completed: CompletedSideEffect) => unrecorded.push(completed) : undefined;
  const done = await mapLimited(calls, PARALLEL_CALLS, (call, index) =>
    dispatch(deps, state, call, index >= limit, recordWith),
  );
  // Offloading writes before the commit: then the outcome is recorded first, on its own.
  if (turnOverThreshold(deps, state, done)) {
    for (const { callId, recorded, at } of unrecorded.splice(0))
      await deps.store.completeSideEffect(state.meta.runId, callId, recorded, at);
  }
  const outcomes = await offloadTurn(deps, state, done);
  for (const completed of unrecorded) writer.recordSideEffect(completed);
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
}

/**
 * Commits the answered turn. A commit refused for now (a transaction conflict, throttling) is
 * retried by the state machine, so the call outcomes it would have recorded are recorded on
 * their own first: the retried step replays them instead of finding them in doubt.
 */
export async function commitTurn(deps: RunDeps, writer: StepWriter, next: NextStep): Promise<Control> {
  try {
    return await writer.commit(deps, next);
  } catch (error) {
    if (error instanceof TransientError) {
      for (const { callId, recorded, at } of writer.recordedSideEffects)
        await deps.store.completeSideEffect(writer.meta.runId, callId, recorded, at);
    }
    throw error;
  }
}

/** One call: over the turn's limit, a built-in this run offers, a deferred tool not loaded yet, or the governed way. */
function dispatch(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  overLimit: boolean,
  recordWith: GovernedCallOptions['recordWith'],
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
  return runCall(deps, state, call, { offload: true, ...(recordWith ? { recordWith } : {}) });
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
