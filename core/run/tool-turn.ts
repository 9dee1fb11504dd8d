import type { ToolCallBlock } from '../definitions/messages.ts';
import type { RunMeta } from '../definitions/run.ts';
import { mapLimited } from './concurrency.ts';
import { notLoadedRefusal } from './deferred-tools.ts';
import type { RunDeps } from './deps.ts';
import type { StartedRunState } from './load.ts';
import { offloadTurn } from './offload.ts';
import { chargeToolCosts, isSandboxServer } from './sandbox.ts';
import type { StepWriter } from './step-writer.ts';
import { runCall } from './tools/governed-call.ts';
import { longestCallSeconds } from './tools/server-call.ts';
import { ledgerListTool } from './tools/ledger.ts';
import { loadToolsTool } from './tools/load-tools.ts';
import { innerCall, innerOf, notMade, refusal, type CallOutcome, type InnerCall } from './tools/outcome.ts';
import { applyPatches } from './tools/patch.ts';
import { readResultTool } from './tools/read-result.ts';
import { builtinFor } from './tools/registry.ts';

/**
 * One turn's tool calls, made and written on the step's record: by the ModelStep that asked
 * for them, or by the ToolStep (turnMaker below). Each call goes to one of looprail's
 * own tools (tools/registry.ts) or the governed path (tools/governed-call.ts); a failed or
 * refused call is a result the model reads, never a crash.
 */

const PARALLEL_CALLS = 4;

/**
 * How long a model or tool step may run in all: the state machine's TimeoutSeconds for those
 * states and their Lambda timeout (test/unit/state-machine.test.ts holds the three equal).
 */
export const STEP_SECONDS = 900;

/** Kept free for the commits, the claims and the records around a turn's calls. */
const MARGIN_SECONDS = 30;

/**
 * looprail's own tools a ModelStep makes: the ones that only read the run (its tool list, its
 * stored results, its ledger). The ledger's writes stay with the ToolStep, whose crash sweep
 * proves them (test/faults/ledger-boundaries.test.ts): a retried ledger write is made again
 * and finds itself applied, a recovery of its own.
 */
const READING_BUILTINS = new Set([loadToolsTool.name, readResultTool.name, ledgerListTool.name]);

/**
 * Which step makes a turn's calls, once no approval holds them:
 * - `with-answer`: every call only reads, so the ModelStep that asked makes them and commits
 *   their results with the answer (one read and one commit per iteration);
 * - `after-answer`: a call may write, so the ModelStep first commits the answer (a retried
 *   ModelStep asks the model again and must not have acted on another answer), then makes
 *   the calls as the ToolStep would, claimed and recorded, and commits their results. A crash
 *   between the two commits is retried as the ToolStep: the first commit's answer says `tools`;
 * - `tool-step`: a call reaches the sandbox, a skill or a sub-agent, which only the ToolStep's
 *   function may (the sandbox broker, the skills registry, child runs), or writes loop memory;
 *   or the calls might not end within what is left of the ModelStep's time.
 */
export type TurnMaker = 'with-answer' | 'after-answer' | 'tool-step';

export function turnMaker(state: StartedRunState, calls: ToolCallBlock[], elapsedSeconds: number): TurnMaker {
  let reads = true;
  let longest = 0;
  for (const call of calls) {
    const builtin = builtinFor(state, call.name);
    if (builtin) {
      if (!READING_BUILTINS.has(builtin.name)) return 'tool-step';
      continue;
    }
    const spec = state.context.tools.find((tool) => tool.name === call.name && !tool.builtin);
    // Refused without running: the answer needs no tool.
    if (!spec) continue;
    const server = state.context.view.servers[spec.server];
    if (server === undefined || isSandboxServer(server)) return 'tool-step';
    reads &&= spec.readOnly;
    longest = Math.max(longest, longestCallSeconds(server, spec));
  }
  // The calls must end inside this step's time, which the model call has already used part of:
  // a step timed out between a claim and its record leaves the call in doubt. The ToolStep
  // starts with the whole limit.
  const worstCase = Math.ceil(calls.length / PARALLEL_CALLS) * longest;
  if (elapsedSeconds + worstCase > STEP_SECONDS - MARGIN_SECONDS) return 'tool-step';
  return reads ? 'with-answer' : 'after-answer';
}

/** Makes the turn's calls and writes their results, traces, costs and what they change on the run record. */
export async function answerTurn(
  deps: RunDeps,
  state: StartedRunState,
  writer: StepWriter,
  calls: ToolCallBlock[],
): Promise<void> {
  const limit = state.context.view.limits.maxToolCallsPerTurn;
  const done = await mapLimited(calls, PARALLEL_CALLS, (call, index) => dispatch(deps, state, call, index >= limit));
  const outcomes = await offloadTurn(deps, state, done);
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
