import { DEFAULT_HARNESS } from '../../definitions/harness.ts';
import type { ToolSpec } from '../../definitions/context.ts';
import type { ToolCallBlock } from '../../definitions/messages.ts';
import { untrustedWrite } from '../../definitions/run.ts';
import { callBinding } from '../../approvals/binding.ts';
import { approvalFor } from '../../policy/approval-rules.ts';
import { argumentProblems } from '../../policy/tool-arguments.ts';
import { heldCallReason } from '../../policy/verify-release.ts';
import { isRunCode, scriptBridge, type ScriptBridge } from '../code-mode.ts';
import type { CompletedSideEffect } from '../../ports/store/runs.ts';
import type { RunDeps } from '../deps.ts';
import type { StartedRunState } from '../load.ts';
import { blockedReason, screenValue } from '../screening.ts';
import { blocked, executedBefore, innerOf, notMade, refusal, rejection } from './outcome.ts';
import type { CallOutcome, InnerCall } from './outcome.ts';
import { callServer, clip, traceFor } from './server-call.ts';
import { withinShapeLimits } from './shape-limits.ts';

/** A result bigger than this is cut, with a marker, so one item stays under DynamoDB's 400 KB. */
export const MAX_RESULT_CHARS = 48_000;
/**
 * What a code-mode script gets of one tool's result: whole, up to this. It stays in the
 * sandbox (only what the script prints reaches the model), so the point is to hand it big
 * results; what is stored of it (a side effect's record) is still cut at MAX_RESULT_CHARS.
 */
export const SCRIPT_RESULT_CHARS = 1_000_000;

export interface GovernedCallOptions {
  /** Offload a big result to the result store (the ToolStep), not cut it (the MCP gateway: no read_result there). */
  offload?: boolean;
  /**
   * Where a claimed call's outcome goes instead of its own write: the step's commit, when it
   * follows the call at once (a turn of one call, tool-turn.ts). A call in doubt stays so
   * exactly as long either way: from the call until one request after it.
   */
  recordWith?: (completed: CompletedSideEffect) => void;
  /** A run_code script's call: no approvals, and its results handed over whole up to SCRIPT_RESULT_CHARS. */
  codeMode?: boolean;
}

/**
 * One tool call under every rule a loop's calls obey: grants, approvals, the tool's
 * schema, guardrails on its arguments, rate limits, side-effect claims, timeouts. Shared by
 * the ToolStep, run_code scripts and the MCP gateway endpoint (core/run/tool-session.ts).
 */
export async function runCall(
  deps: RunDeps,
  state: StartedRunState,
  asked: ToolCallBlock,
  options: GovernedCallOptions = {},
): Promise<CallOutcome> {
  const { view } = state.context;
  // A script's or a gateway client's arguments, before anything (the approval binding, the screens) walks them.
  const call = withinShapeLimits(asked);
  const spec = state.context.tools.find((tool) => tool.name === call.name && !tool.builtin);
  if (!spec) {
    const reason = `refused: "${call.name}" is not a tool this agent may use (not granted, or not declared by the org)`;
    return refusal(view.role, call, reason, deps.clock.now());
  }
  const held = heldCallReason(view.verify?.release, state.meta.verified !== undefined, spec);
  if (held) {
    // Not a refusal of policy (on_denied_tool does not stop the run): the call's moment has not come, or has gone.
    return notMade(
      'invalid',
      call,
      held,
      traceFor(state, call, spec, { status: 'error', ...instant(deps), detail: held }),
    );
  }
  const unapproved = approvalRefusal(deps, state, call, spec, options);
  if (unapproved) return unapproved;
  const tool = `${spec.server}.${spec.tool}`;
  const problems = argumentProblems(spec.inputSchema, call.arguments);
  if (problems) {
    const content = `invalid arguments for ${tool}, so the call was not made: ${problems}`;
    const trace = traceFor(state, call, spec, { status: 'error', ...instant(deps), detail: content });
    return notMade('invalid', call, content, trace);
  }
  const input = screenValue(deps, view, call.arguments, 'tool_input');
  if (input.blocked) {
    const content = `the call to ${tool} was not made: its arguments were ${blockedReason(input.blocked)}`;
    const guardrails = input.verdicts;
    const trace = traceFor(state, call, spec, { status: 'denied', ...instant(deps), detail: content, guardrails });
    return blocked(call, content, trace, false);
  }
  const screenedCall = { ...call, arguments: input.value };
  const serve = () =>
    callServer(deps, state, screenedCall, spec, {
      inputVerdicts: input.verdicts,
      offload: options.offload === true,
      limit: options.codeMode ? SCRIPT_RESULT_CHARS : MAX_RESULT_CHARS,
      script: isRunCode(spec) ? scriptFor(deps, state, screenedCall) : undefined,
    });
  if (spec.readOnly) return (await rateLimited(deps, state, call, spec)) ?? serve();
  const make = async () => (await rateLimited(deps, state, call, spec)) ?? (await serve());
  return claimed(deps, state, call, spec, make, options.recordWith);
}

/**
 * A call that may change something is claimed first, so a retried step never repeats it
 * blindly: one an earlier attempt recorded is replayed, one it may have made without
 * recording is not made again.
 */
async function claimed(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  spec: ToolSpec,
  make: () => Promise<CallOutcome>,
  recordWith: GovernedCallOptions['recordWith'],
): Promise<CallOutcome> {
  const { runId } = state.meta;
  const tool = `${spec.server}.${spec.tool}`;
  const claim = await deps.store.claimSideEffect(runId, call.id, tool, deps.clock.now().toISOString());
  if (claim.state === 'completed') {
    return executedBefore({ ...claim.recorded, inner: claim.recorded.inner as InnerCall[] | undefined });
  }
  if (claim.state === 'in_doubt') {
    const content =
      `an earlier attempt of this call to ${tool} (started ${claim.startedAt}) may have acted ` +
      'without recording an outcome; it is not repeated automatically. Check its effect before trying again.';
    const trace = traceFor(state, call, spec, { status: 'error', ...instant(deps), detail: `in doubt: ${content}` });
    return notMade('in_doubt', call, content, trace);
  }
  const outcome = await make();
  const inner = innerOf(outcome);
  // Stored cut, like any result: one item stays under DynamoDB's 400 KB.
  const result = { ...outcome.result, content: clip(outcome.result.content, MAX_RESULT_CHARS) };
  const recorded = { result, trace: outcome.trace, ...(inner.length > 0 ? { inner } : {}) };
  const at = deps.clock.now().toISOString();
  if (recordWith) recordWith({ callId: call.id, recorded, at });
  else await deps.store.completeSideEffect(runId, call.id, recorded, at);
  return outcome;
}

/**
 * Approval rules: a rejected call is answered, an unapproved one refused, and an approved
 * one must be the call the approver saw: same tool, same arguments, same policy.
 */
function approvalRefusal(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  spec: ToolSpec,
  options: GovernedCallOptions,
): CallOutcome | undefined {
  const { view } = state.context;
  const context = untrustedWrite(state.meta, view.approveWritesAfterUntrusted);
  if (!approvalFor(spec, view.approvals, DEFAULT_HARNESS.approval_timeout_seconds, context)) return undefined;
  const turn = state.meta.turn;
  const tool = `${spec.server}.${spec.tool}`;
  const refuse = (reason: string) => refusal(view.role, call, reason, deps.clock.now());
  if (turn?.rejectedCalls?.callIds.includes(call.id)) {
    return rejection(view.role, call, `not run: ${turn.rejectedCalls.reason}`, deps.clock.now());
  }
  if (options.codeMode) {
    return refuse(
      `refused: ${tool} needs a human approval, and a script cannot wait for one: ` +
        'make this call directly (not from run_code), so the run can pause for the approver',
    );
  }
  if (!turn?.approvedCallIds?.includes(call.id)) {
    return refuse(`refused: ${tool} needs a human approval that this call does not have`);
  }
  if (turn.approvedBindings && turn.approvedBindings[call.id] !== callBinding(tool, call.arguments, view.version)) {
    const other = 'with other arguments or under another policy version than this call has';
    return refuse(`refused: ${tool} was approved ${other}`);
  }
  return undefined;
}

/** The org's per-tool rate limit, one fixed minute at a time, shared by every agent and run. */
async function rateLimited(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  spec: ToolSpec,
): Promise<CallOutcome | undefined> {
  const perMinute = spec.rateLimitPerMinute;
  if (perMinute === undefined) return undefined;
  const now = deps.clock.now();
  const window = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const expiresAt = Math.floor(window.getTime() / 1000) + 3600;
  const tool = `${spec.server}.${spec.tool}`;
  if (await deps.store.takeRateToken(`tool:${tool}`, window.toISOString(), perMinute, expiresAt)) return undefined;
  const next = new Date(window.getTime() + 60_000).toISOString();
  const content =
    `rate limited: ${tool} allows ${perMinute} calls a minute across the org, ` +
    `and this minute's are used; the call was not made (try again after ${next})`;
  const at = now.toISOString();
  const timing = { startedAt: at, endedAt: at, latencyMs: 0, attempt: 0 };
  const trace = traceFor(state, call, spec, { status: 'error', ...timing, detail: content });
  return notMade('invalid', call, content, trace);
}

/** run_code: the script's own calls come back through this step's gateway, one governed call each. */
function scriptFor(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): ScriptBridge {
  const maxCalls = state.context.view.sandbox?.spec.max_script_tool_calls ?? 0;
  return scriptBridge(
    state,
    call,
    maxCalls,
    (inner, innerCall, options) => runCall(deps, inner, innerCall, options),
    (inner, innerCall, reason) => {
      return Promise.resolve(refusal(inner.context.view.role, innerCall, reason, deps.clock.now()));
    },
  );
}

/** The timing of a call that ended before it started: nothing was called. */
function instant(deps: RunDeps): { startedAt: string; endedAt: string; latencyMs: 0; attempt: 0 } {
  const now = deps.clock.now().toISOString();
  return { startedAt: now, endedAt: now, latencyMs: 0, attempt: 0 };
}
