import type { ToolSpec } from '../definitions/context.ts';
import { toolCallsOf, type ToolCallBlock, type ToolResultBlock } from '../definitions/messages.ts';
import { addUsage, untrustedWrite, ZERO_USAGE, type Control, type StepInput, type Usage } from '../definitions/run.ts';
import type { NewTraceEvent } from '../definitions/trace.ts';
import { errorMessage, ToolTimeoutError, ToolUnavailableError } from '../errors.ts';
import { approvalFor } from '../policy/approval-rules.ts';
import { callBinding } from '../approvals/binding.ts';
import { argumentProblems } from '../policy/tool-arguments.ts';
import { DEFAULT_HARNESS } from '../definitions/agent.ts';
import type { RunDeps } from './deps.ts';
import { chargeToolCosts, runTools } from './sandbox.ts';
import { elapsedMs, loadStartedRun, type StartedRunState } from './load.ts';
import { replayedControl, StepWriter } from './step-writer.ts';
import { blockedReason, recorded, screenText, screenValue } from './screening.ts';
import type { Verdict } from '../guardrails/types.ts';
import { isSkillTool, skillCall } from './skills.ts';
import { delegateCall, pendingDelegation } from './delegate.ts';
import { DELEGATE_TOOL_NAME } from '../loop/prompt.ts';
import { LOAD_TOOLS_TOOL_NAME, loadToolsCall, notLoadedRefusal } from './deferred-tools.ts';
import { offloadResult, offloadTurn, overCallThreshold, READ_RESULT_TOOL_NAME, readResultCall } from './offload.ts';
import { isRunCode, scriptBridge } from './code-mode.ts';
import { mapLimited } from './concurrency.ts';

/** A result bigger than this is cut, with a marker, so one item stays under DynamoDB's 400 KB. */
export const MAX_RESULT_CHARS = 48_000;
/**
 * What a code-mode script gets of one tool's result: whole, up to this. It stays in the
 * sandbox (only what the script prints reaches the model), so the point is to hand it big
 * results; what is stored of it (a side effect's record) is still cut at MAX_RESULT_CHARS.
 */
export const SCRIPT_RESULT_CHARS = 1_000_000;
const DEFAULT_CALL_TIMEOUT_SECONDS = 60;
const READ_ONLY_ATTEMPTS = 2;
const PARALLEL_CALLS = 4;

export interface CallOutcome {
  result: ToolResultBlock;
  trace: NewTraceEvent;
  /**
   * executed: the server got the call (now, or in an earlier attempt whose result is reused);
   * denied: policy refused it; invalid: not made (its arguments did not fit the tool's
   * schema, or the tool's rate limit was reached);
   * in_doubt: an earlier attempt may have acted and recorded nothing, so it is not repeated;
   * blocked: a guardrail blocked its arguments (not called) or its result (called, result withheld);
   * builtin: one of looprail's own tools answered inside the step (loading a skill);
   * rejected: an approver said no (on_reject: continue), so it was not made.
   */
  kind: 'executed' | 'denied' | 'invalid' | 'in_doubt' | 'blocked' | 'builtin' | 'rejected';
  /** A skill version the call loaded (`name@version`), recorded on the run. */
  loadedSkill?: string;
  /** A delegated sub-agent run's usage, rolled into the parent's `subagentUsage`. */
  childUsage?: Usage;
  /** Tools of deferred servers this call loaded (looprail__load_tools), recorded on the run. */
  loadedTools?: string[];
  /** The handle of the stored result this outcome's content previews. */
  offloaded?: string;
  /** Whether the server got the call. */
  called?: boolean;
  /** A sandbox call: when its sandbox was copied in (recorded on the run). */
  sandboxCreatedAt?: string;
  /** A run_code call's own tool calls (code mode): traced and counted with the turn. */
  inner?: InnerCall[];
}

/** What a turn keeps of a call a script made. */
export type InnerCall = Pick<CallOutcome, 'kind' | 'trace' | 'called'>;

/**
 * ToolStep: run the last turn's tool calls that the agent may make, and persist every
 * result (a failed or refused call is a result the model reads, never a crash).
 */
export async function toolStep(deps: RunDeps, input: StepInput): Promise<Control> {
  // Only the last turn's calls are run: the rest of a long conversation is not read.
  const state = await loadStartedRun(deps, input.runId, { lastMessages: 1 });
  const replay = replayedControl(state.meta, input.seq);
  if (replay) return replay;
  const last = [...state.messages].reverse().find((message) => message.role === 'assistant');
  const calls = last ? toolCallsOf(last) : [];
  const limit = state.context.view.limits.maxToolCallsPerTurn;
  const delegating = (call: ToolCallBlock) => call.name === DELEGATE_TOOL_NAME && state.context.tools.some((tool) => tool.name === call.name);

  // No in-process children port: the state machine runs each sub-agent as a child execution
  // first (Delegate), one at a time, and this step comes back to write the whole turn's results.
  const handOver = await pendingDelegation(deps, state, calls.slice(0, limit).filter(delegating));
  if (handOver) {
    const writer = new StepWriter(state.meta);
    writer.meta.delegatedRuns = [...(writer.meta.delegatedRuns ?? []), handOver];
    return writer.commit(deps, 'delegate', { childRunId: handOver });
  }

  const outcomes = await mapLimited(calls, PARALLEL_CALLS, (call, index) =>
    index >= limit
      ? refuse(deps, state, call, `refused: more than ${limit} tool calls in one turn (harness.max_tool_calls_per_turn)`)
      : isSkillTool(call.name) && state.context.tools.some((tool) => tool.name === call.name)
        ? skillCall(deps, state, call)
        : delegating(call)
          ? delegateCall(deps, state, call)
          : leanCall(deps, state, call),
  ).then((done) => offloadTurn(deps, state, done));

  const writer = new StepWriter(state.meta);
  if (outcomes.length > 0) writer.addMessage({ role: 'tool', content: outcomes.map((outcome) => outcome.result) });
  // A script's own calls (code mode) are traced before the run_code call that made them, which ended last.
  for (const outcome of outcomes) for (const trace of [...(outcome.inner ?? []).map((inner) => inner.trace), outcome.trace]) writer.addTrace(trace);
  // Every call of the turn: the model's, and the ones its scripts made.
  const every: InnerCall[] = outcomes.flatMap((outcome) => [...(outcome.inner ?? []), outcome]);
  // A delegation's cost was charged by the child's own steps: here it is only rolled up, apart.
  const charged = outcomes.flatMap((outcome) => [...(outcome.inner ?? []).map((inner) => inner.trace), ...(outcome.childUsage ? [] : [outcome.trace])]);
  chargeToolCosts(writer, charged, deps.clock.now());
  for (const outcome of outcomes) if (outcome.childUsage) writer.meta.subagentUsage = addUsage(writer.meta.subagentUsage ?? ZERO_USAGE, outcome.childUsage);
  const loaded = outcomes.map((outcome) => outcome.loadedSkill).filter((ref): ref is string => ref !== undefined);
  if (loaded.length > 0) writer.meta.skillsLoaded = [...(writer.meta.skillsLoaded ?? []), ...loaded];
  const loadedTools = outcomes.flatMap((outcome) => outcome.loadedTools ?? []);
  if (loadedTools.length > 0) writer.meta.loadedTools = [...new Set([...(writer.meta.loadedTools ?? []), ...loadedTools])];
  const sandboxCreatedAt = outcomes.map((outcome) => outcome.sandboxCreatedAt).filter((at): at is string => at !== undefined).sort().at(-1);
  if (sandboxCreatedAt) writer.meta.sandboxCreatedAt = sandboxCreatedAt;
  const offloaded = outcomes.map((outcome) => outcome.offloaded).filter((handle): handle is string => handle !== undefined);
  if (offloaded.length > 0) writer.meta.offloadedResults = [...new Set([...(writer.meta.offloadedResults ?? []), ...offloaded])];
  writer.meta.toolCalls += every.filter((outcome) => outcome.kind === 'executed' || outcome.called).length;
  if (every.some((outcome) => outcome.kind === 'executed')) writer.meta.untrusted = true;
  writer.meta.delegatedRuns = undefined;
  writer.meta.approvedCallIds = undefined;
  writer.meta.approvedBindings = undefined;
  writer.meta.rejectedCalls = undefined;
  writer.meta.pendingApprovalId = undefined;
  writer.meta.status = 'running';
  const { onDeniedTool, onToolInDoubt } = state.context.view.limits;
  // A script's refused, blocked or doubtful call stops the run as the same call made directly would.
  const deniedCall = every.find((outcome) => outcome.kind === 'denied');
  const doubtfulCall = every.find((outcome) => outcome.kind === 'in_doubt');
  const blockedCall = every.find((outcome) => outcome.kind === 'blocked');
  if (blockedCall) {
    writer.meta.pendingStop = { reason: 'guardrail_blocked', detail: blockedCall.trace.detail ?? 'a tool call was blocked by a guardrail' };
  } else if (deniedCall && onDeniedTool === 'stop') {
    writer.meta.pendingStop = { reason: 'guardrail_blocked', detail: deniedCall.trace.detail ?? 'a tool call was refused' };
  } else if (doubtfulCall && onToolInDoubt === 'stop') {
    writer.meta.pendingStop = { reason: 'error', detail: doubtfulCall.trace.detail ?? 'a tool call is in doubt' };
  }
  return writer.commit(deps, 'model');
}

/** The loop's own context tools (load_tools, read_result), a not-yet-loaded tool's refusal, or the call itself with offloading. */
function leanCall(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): Promise<CallOutcome> {
  const offered = (name: string) => state.context.tools.some((tool) => tool.name === name) || (name === READ_RESULT_TOOL_NAME && (state.meta.offloadedResults ?? []).length > 0);
  if (call.name === LOAD_TOOLS_TOOL_NAME && offered(call.name)) return Promise.resolve(loadToolsCall(deps, state, call));
  if (call.name === READ_RESULT_TOOL_NAME && offered(call.name)) return readResultCall(deps, state, call);
  const notLoaded = notLoadedRefusal(state.context, state.meta, call);
  if (notLoaded) {
    return refuse(deps, state, call, notLoaded).then((outcome) => ({ ...outcome, kind: 'invalid' as const, trace: { ...outcome.trace, kind: 'tool_call' as const, status: 'error' as const } }));
  }
  return runCall(deps, state, call, { offload: true });
}

/**
 * One tool call under every rule a loop's calls obey: grants, approvals, the tool's
 * schema, side-effect claims, timeouts. Shared by the ToolStep and the MCP gateway endpoint
 * (which gets results cut, not offloaded: its client has no read_result).
 */
export async function runCall(deps: RunDeps, state: StartedRunState, call: ToolCallBlock, options: { offload?: boolean; codeMode?: boolean } = {}): Promise<CallOutcome> {
  const spec = state.context.tools.find((tool) => tool.name === call.name && !tool.builtin);
  if (!spec) {
    return refuse(deps, state, call, `refused: "${call.name}" is not a tool this agent may use (not granted, or not declared by the org)`);
  }
  const approval = approvalFor(spec, state.context.view.approvals, DEFAULT_HARNESS.approval_timeout_seconds, untrustedWrite(state.meta, state.context.view.approveWritesAfterUntrusted));
  if (approval && state.meta.rejectedCalls?.callIds.includes(call.id)) {
    return rejected(deps, state, call, `not run: ${state.meta.rejectedCalls.reason}`);
  }
  if (approval && options.codeMode) {
    return refuse(deps, state, call, `refused: ${spec.server}.${spec.tool} needs a human approval, and a script cannot wait for one: make this call directly (not from run_code), so the run can pause for the approver`);
  }
  if (approval && !state.meta.approvedCallIds?.includes(call.id)) {
    return refuse(deps, state, call, `refused: ${spec.server}.${spec.tool} needs a human approval that this call does not have`);
  }
  // The call that runs must be the call the approver saw: same tool, same arguments, same policy.
  if (approval && state.meta.approvedBindings && state.meta.approvedBindings[call.id] !== callBinding(`${spec.server}.${spec.tool}`, call.arguments, state.context.view.version)) {
    return refuse(deps, state, call, `refused: ${spec.server}.${spec.tool} was approved with other arguments or under another policy version than this call has`);
  }
  const problems = argumentProblems(spec.inputSchema, call.arguments);
  if (problems) {
    const now = deps.clock.now().toISOString();
    const content = `invalid arguments for ${spec.server}.${spec.tool}, so the call was not made: ${problems}`;
    return {
      kind: 'invalid',
      result: { type: 'tool_result', callId: call.id, name: call.name, content, isError: true },
      trace: traceFor(state, call, spec, { status: 'error', startedAt: now, endedAt: now, latencyMs: 0, attempt: 0, detail: content }),
    };
  }
  const input = screenValue(deps, state.context.view, call.arguments, 'tool_input');
  if (input.blocked) {
    const now = deps.clock.now().toISOString();
    const content = `the call to ${spec.server}.${spec.tool} was not made: its arguments were ${blockedReason(input.blocked)}`;
    return {
      kind: 'blocked',
      called: false,
      result: { type: 'tool_result', callId: call.id, name: call.name, content, isError: true },
      trace: traceFor(state, call, spec, { status: 'denied', startedAt: now, endedAt: now, latencyMs: 0, attempt: 0, detail: content, guardrails: input.verdicts }),
    };
  }
  const screenedCall = { ...call, arguments: input.value };
  const limit = options.codeMode ? SCRIPT_RESULT_CHARS : MAX_RESULT_CHARS;
  if (spec.readOnly) return (await rateLimited(deps, state, call, spec)) ?? callServer(deps, state, screenedCall, spec, input.verdicts, options.offload === true, limit);
  // A call that may change something is claimed first, so a retried step never repeats it blindly.
  const claim = await deps.store.claimSideEffect(state.meta.runId, call.id, `${spec.server}.${spec.tool}`, deps.clock.now().toISOString());
  // Recorded by an earlier attempt of this step: the same result and trace, without calling again.
  if (claim.state === 'completed') return { kind: 'executed', ...claim.recorded, inner: claim.recorded.inner as InnerCall[] | undefined };
  if (claim.state === 'in_doubt') {
    const now = deps.clock.now().toISOString();
    const content = `an earlier attempt of this call to ${spec.server}.${spec.tool} (started ${claim.startedAt}) may have acted without recording an outcome; it is not repeated automatically. Check its effect before trying again.`;
    return {
      kind: 'in_doubt',
      result: { type: 'tool_result', callId: call.id, name: call.name, content, isError: true },
      trace: traceFor(state, call, spec, { status: 'error', startedAt: now, endedAt: now, latencyMs: 0, attempt: 0, detail: `in doubt: ${content}` }),
    };
  }
  const outcome = (await rateLimited(deps, state, call, spec)) ?? (await callServer(deps, state, screenedCall, spec, input.verdicts, options.offload === true, limit));
  const inner = outcome.inner?.map(({ kind, trace, called }) => ({ kind, trace, called }));
  // Stored cut, like any result: one item stays under DynamoDB's 400 KB.
  const result = { ...outcome.result, content: clip(outcome.result.content, MAX_RESULT_CHARS) };
  await deps.store.completeSideEffect(state.meta.runId, call.id, { result, trace: outcome.trace, ...(inner ? { inner } : {}) }, deps.clock.now().toISOString());
  return outcome;
}

/** The org's per-tool rate limit, one fixed minute at a time, shared by every agent and run. */
async function rateLimited(deps: RunDeps, state: StartedRunState, call: ToolCallBlock, spec: ToolSpec): Promise<CallOutcome | undefined> {
  const perMinute = spec.rateLimitPerMinute;
  if (perMinute === undefined) return undefined;
  const now = deps.clock.now();
  const window = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const expiresAt = Math.floor(window.getTime() / 1000) + 3600;
  if (await deps.store.takeRateToken(`tool:${spec.server}.${spec.tool}`, window.toISOString(), perMinute, expiresAt)) return undefined;
  const content = `rate limited: ${spec.server}.${spec.tool} allows ${perMinute} calls a minute across the org, and this minute's are used; the call was not made (try again after ${new Date(window.getTime() + 60_000).toISOString()})`;
  return {
    kind: 'invalid',
    result: { type: 'tool_result', callId: call.id, name: call.name, content, isError: true },
    trace: traceFor(state, call, spec, { status: 'error', startedAt: now.toISOString(), endedAt: now.toISOString(), latencyMs: 0, attempt: 0, detail: content }),
  };
}

/** Calls the tool's server; a failure becomes a result the model can read. */
async function callServer(deps: RunDeps, state: StartedRunState, call: ToolCallBlock, spec: ToolSpec, inputVerdicts: Verdict[], offload: boolean, limit: number): Promise<CallOutcome> {
  const server = state.context.view.servers[spec.server]!;
  const timeoutSeconds = server.timeouts.call ?? DEFAULT_CALL_TIMEOUT_SECONDS;
  const started = deps.clock.now();
  let content: string;
  let isError: boolean;
  // A sandbox call's record (command, exit code, duration) and what its time cost.
  let extra: Pick<NewTraceEvent, 'sandbox' | 'costMicros'> = {};
  let sandboxCreatedAt: string | undefined;
  let attempt = 1;
  // run_code: the script's own calls come back through this step's gateway, one governed call each.
  const script = isRunCode(spec)
    ? scriptBridge(state, call, state.context.view.sandbox?.spec.max_script_tool_calls ?? 0, (inner, innerCall, options) => runCall(deps, inner, innerCall, options), (inner, innerCall, reason) => refuse(deps, inner, innerCall, reason))
    : undefined;
  for (;;) {
    try {
      const result = await runTools(deps, state.context.view, state.meta, script?.bridge).callTool(server, spec.tool, call.arguments, { timeoutMs: timeoutSeconds * 1000 });
      ({ content, isError } = result);
      if (result.sandbox) extra = { sandbox: result.sandbox, costMicros: result.costMicros };
      if (result.sandboxCreatedAt) sandboxCreatedAt = result.sandboxCreatedAt;
      break;
    } catch (error) {
      // Only a read-only call is safe to repeat: a write may have happened before the failure.
      if (error instanceof ToolUnavailableError && spec.readOnly && attempt < READ_ONLY_ATTEMPTS) {
        attempt += 1;
        continue;
      }
      isError = true;
      content =
        error instanceof ToolTimeoutError
          ? `the tool did not answer within ${timeoutSeconds} s`
          : error instanceof ToolUnavailableError && !spec.readOnly
            ? `the tool's server failed during the call; it may or may not have acted: ${errorMessage(error)}`
            : `the tool failed: ${errorMessage(error)}`;
      break;
    }
  }
  const attached = { ...(script ? { inner: await script.outcomes() } : {}), ...(sandboxCreatedAt ? { sandboxCreatedAt } : {}) };
  const ended = deps.clock.now();
  // The result is screened before the model (or the store) sees it: it is untrusted input.
  const output = screenText(deps, state.context.view, content, 'tool_output');
  const verdicts = recorded([...inputVerdicts, ...output.verdicts]);
  const timing = { startedAt: started.toISOString(), endedAt: ended.toISOString(), latencyMs: elapsedMs(started, ended), attempt };
  if (output.blocked) {
    const withheld = `the result of ${spec.server}.${spec.tool} was withheld: it was ${blockedReason(output.blocked)}`;
    return {
      kind: 'blocked',
      called: true,
      result: { type: 'tool_result', callId: call.id, name: call.name, content: withheld, isError: true },
      trace: traceFor(state, call, spec, { status: 'denied', ...timing, detail: withheld, guardrails: verdicts, ...extra }),
      ...attached,
    };
  }
  // Over the per-call threshold: stored with the run, and a preview with its handle goes to the model instead.
  const stored = offload && overCallThreshold(state.context.view, output.text) ? await offloadResult(deps, state, call.id, `${spec.server}.${spec.tool}`, output.text) : undefined;
  if (stored) {
    return {
      kind: 'executed',
      offloaded: stored.handle,
      result: { type: 'tool_result', callId: call.id, name: call.name, content: stored.content, isError },
      trace: traceFor(state, call, spec, { status: isError ? 'error' : 'ok', ...timing, detail: stored.detail, resultHandle: stored.handle, guardrails: verdicts, ...extra }),
      ...attached,
    };
  }
  const clipped = clip(output.text, limit);
  return {
    kind: 'executed',
    result: { type: 'tool_result', callId: call.id, name: call.name, content: clipped, isError },
    trace: traceFor(state, call, spec, {
      status: isError ? 'error' : 'ok',
      ...timing,
      detail: extra.sandbox ? clipped.slice(0, 1000) : isError ? clipped.slice(0, 500) : clipped.length < output.text.length ? `result cut from ${output.text.length} characters` : undefined,
      guardrails: verdicts,
      ...extra,
    }),
    ...attached,
  };
}

/** A call a human rejected: not made, and the model reads who rejected it and why; never a stop of its own. */
function rejected(deps: RunDeps, state: StartedRunState, call: ToolCallBlock, reason: string): Promise<CallOutcome> {
  return refuse(deps, state, call, reason).then((outcome) => ({ ...outcome, kind: 'rejected' as const }));
}

function refuse(deps: RunDeps, state: StartedRunState, call: ToolCallBlock, reason: string): Promise<CallOutcome> {
  const now = deps.clock.now().toISOString();
  return Promise.resolve({
    kind: 'denied',
    result: { type: 'tool_result', callId: call.id, name: call.name, content: reason, isError: true },
    trace: {
      kind: 'tool_denied',
      role: state.context.view.role,
      name: call.name,
      status: 'denied',
      startedAt: now,
      endedAt: now,
      latencyMs: 0,
      callId: call.id,
      detail: reason,
    },
  });
}

function traceFor(
  state: StartedRunState,
  call: ToolCallBlock,
  spec: ToolSpec,
  fields: Pick<NewTraceEvent, 'status' | 'startedAt' | 'endedAt' | 'latencyMs' | 'attempt' | 'detail' | 'guardrails' | 'sandbox' | 'costMicros' | 'resultHandle'>,
): NewTraceEvent {
  return { kind: 'tool_call', role: state.context.view.role, name: `${spec.server}.${spec.tool}`, server: spec.server, tool: spec.tool, callId: call.id, ...fields };
}

function clip(content: string, limit: number): string {
  if (content.length <= limit) return content;
  return `${content.slice(0, limit)}\n[… result cut: ${content.length - limit} more characters]`;
}
