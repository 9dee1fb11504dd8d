import type { ToolCallBlock } from '../definitions/messages.ts';
import { toolCallsOf } from '../definitions/messages.ts';
import { untrustedWrite, type Control, type RunMeta, type StepInput, type Usage } from '../definitions/run.ts';
import { formatUsd } from '../format/usd.ts';
import { BudgetContendedError, ContextTooLongError, RateLimitedError } from '../errors.ts';
import { limitBeforeModelCall, runCeiling, spendLimit, type StopDecision } from '../loop/limits.ts';
import {
  budgetLines,
  describeLine,
  fitsBesideSpend,
  neverFits,
  worstCase,
  type BudgetCharge,
  type BudgetLine,
} from '../budgets/reservation.ts';
import { alertOnThresholds } from '../budgets/alerts.ts';
import type { RollupIncrement } from '../ports/store/budgets.ts';
import type { RateLimitStore } from '../ports/store/rate-limits.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import { VERDICT_TOOL_NAME } from '../loop/prompt.ts';
import { isStalled, nextStallState } from '../loop/stall.ts';
import { approvalFor } from '../policy/approval-rules.ts';
import { DEFAULT_HARNESS } from '../definitions/harness.ts';
import type { RunDeps } from './deps.ts';
import { elapsedMs, loadStartedRun, type StartedRunState } from './load.ts';
import { replayedControl, StepWriter } from './step-writer.ts';
import { blockedReason } from './screening.ts';
import { toolsShown } from './deferred-tools.ts';
import { answeredWithoutRunning } from './unasked-calls.ts';
import { READ_RESULT_TOOL } from './offload.ts';
import { callModel, type ModelCallResult } from './model-call.ts';
import { compactIfNeeded, contextMessages } from './compaction.ts';
import { answerTurn, turnMaker } from './tool-turn.ts';

/**
 * What ModelStep uses: the run records, the budget ledger and the rate limits; the model (as the
 * agent's identity), guardrails, metrics and where budget alerts go; and the agent's tools, for
 * the turns it makes itself (tool-turn.ts).
 */
export type ModelStepDeps = RunDeps;

/**
 * ModelStep: check the limits, call the model, persist its turn, and decide where the
 * run goes next (an approval wait, verification, the end, or its tools, which it makes
 * itself unless only the ToolStep may: tool-turn.ts).
 */
export async function modelStep(deps: ModelStepDeps, input: StepInput): Promise<Control> {
  const started = deps.clock.now();
  const state = await loadStartedRun(deps, input.runId);
  const replay = replayedControl(state.meta, input.seq);
  if (replay) return replay;
  const { meta } = state;
  // A stop decided by the previous step (a refused tool under on_denied_tool: stop).
  if (meta.pendingStop) return { runId: meta.runId, seq: meta.seq, next: 'finish' };
  // The ToolStep handed a sub-agent to the state machine (ToolStep's Next is always ModelStep): passed on to Route → Delegate.
  if (meta.lastControl?.next === 'delegate') return meta.lastControl;

  const writer = new StepWriter(meta);
  const ready = await prepareCall(deps, state, writer);
  if ('control' in ready) return ready.control;
  let called: ModelCallResult;
  try {
    called = await callModel(deps, ready.lean, writer);
  } catch (error) {
    // No answer, no tokens billed: release the reservation (the step's retry reserves again) before the error goes on.
    await ready.reservation.release();
    const control = error instanceof ContextTooLongError ? await compactRefused(deps, state, writer, ready) : undefined;
    if (control) return control;
    throw error;
  }
  const { response, blocked, usage } = called;
  await ready.reservation.settle({ micros: usage.costMicros, tokens: usage.inputTokens + usage.outputTokens });
  writer.meta.modelCalls += 1;
  writer.addRollups(rollupsFor(meta, state.context.view.role, response.modelName, usage, deps.clock.now()));
  deps.metrics?.spend(
    { agent: meta.agent, team: meta.team, model: response.modelName, role: state.context.view.role },
    usage,
  );
  // Blocked output is neither stored nor acted on; its tokens were still spent and are counted.
  if (blocked)
    return stop(deps, writer, {
      reason: 'guardrail_blocked',
      detail: `the model's output was ${blockedReason(blocked)}`,
    });
  writer.addMessage({ role: 'assistant', content: response.content });
  return afterAnswer(deps, state, writer, response, elapsedMs(started, deps.clock.now()) / 1000);
}

/** What a call needs once every check before it passed: the lean state it sends and its budget reservation. */
interface ReadyCall {
  lean: StartedRunState;
  reservation: Extract<Reservation, { settle: unknown }>;
  /** The tools the call offers, as they stand after this step's changes. */
  shown: () => StartedRunState['context']['tools'];
  /** Whether this step already compacted (and so has something to commit). */
  compactedNow: boolean;
}

/** Limits, rate, compaction and the budget, in that order; a Control when one of them ends the step. */
async function prepareCall(
  deps: ModelStepDeps,
  state: StartedRunState,
  writer: StepWriter,
): Promise<ReadyCall | { control: Control }> {
  const { meta, context } = state;
  const before = limitBeforeModelCall(meta, context.view.limits, deps.clock.now());
  if (before) return { control: await stop(deps, writer, before) };
  const limited = await rateLimit(deps, state);
  if (limited) return { control: await stop(deps, writer, limited) };
  // What the call carries: deferred schemas only once loaded, compacted turns as their summary.
  const shown = () =>
    toolsShown(context, writer.meta, (writer.meta.offloadedResults ?? []).length > 0 ? [READ_RESULT_TOOL] : []);
  const compacted = await compactIfNeeded(deps, state, writer, shown());
  if (compacted.spent)
    writer.addRollups(
      rollupsFor(meta, context.view.role, compacted.spent.model, compacted.spent.usage, deps.clock.now()),
    );
  if (compacted.stop) return { control: await stop(deps, writer, compacted.stop) };
  const lean: StartedRunState = {
    ...state,
    messages: contextMessages(writer.meta, state.messages),
    context: { ...context, tools: shown() },
  };
  const reservation = await reserve(deps, lean);
  if ('pause' in reservation) {
    // The budget asks a human instead of stopping: "approve +$N to continue".
    writer.meta.pendingBudgetRequest = reservation.pause;
    return {
      control: await writer.commit(deps, 'approval', {
        approvalTimeoutSeconds: DEFAULT_HARNESS.approval_timeout_seconds,
      }),
    };
  }
  if ('stop' in reservation) return { control: await stop(deps, writer, reservation.stop) };
  return { lean, reservation, shown, compactedNow: compacted.spent !== undefined };
}

/**
 * Refused as too long for the model: compact now and call again, while older turns are left to
 * summarise. Undefined when there is nothing left to compact (the error goes on).
 */
async function compactRefused(
  deps: ModelStepDeps,
  state: StartedRunState,
  writer: StepWriter,
  ready: ReadyCall,
): Promise<Control | undefined> {
  const { meta, context } = state;
  const forced = await compactIfNeeded(deps, state, writer, ready.shown(), { force: true });
  if (forced.spent)
    writer.addRollups(rollupsFor(meta, context.view.role, forced.spent.model, forced.spent.usage, deps.clock.now()));
  if (forced.stop) return stop(deps, writer, forced.stop);
  if (writer.meta.compaction?.count !== ready.lean.meta.compaction?.count || ready.compactedNow)
    return writer.commit(deps, 'model');
  return undefined;
}

/** Where the run goes after the model's turn: a verdict, the end, verification, an approval wait or its tools. */
async function afterAnswer(
  deps: ModelStepDeps,
  state: StartedRunState,
  writer: StepWriter,
  response: ModelCallResult['response'],
  elapsedSeconds: number,
): Promise<Control> {
  const { meta, context } = state;
  const m = writer.meta;
  const calls = toolCallsOf({ role: 'assistant', content: response.content });
  const verdictCall =
    context.view.role === 'checker' ? calls.find((call) => call.name === VERDICT_TOOL_NAME) : undefined;
  if (verdictCall) {
    m.verdict = {
      pass: verdictCall.arguments.pass === true,
      feedback: typeof verdictCall.arguments.feedback === 'string' ? verdictCall.arguments.feedback : '',
    };
    m.pendingStop = {
      reason: 'completed',
      detail: m.verdict.pass ? 'checker passed the work' : 'checker failed the work',
    };
    return writer.commit(deps, 'finish');
  }

  const afterSpend = spendLimit(m, context.view.limits);
  if (afterSpend) return stop(deps, writer, afterSpend);

  if (calls.length === 0) {
    if (meta.verified) {
      m.pendingStop = {
        reason: 'verified',
        detail: `the checker passed attempt ${meta.verified.attempt}; the maker then finished with the tools it released (verify.release)`,
      };
      return writer.commit(deps, 'finish');
    }
    if (context.view.role === 'maker' && context.view.verify) return writer.commit(deps, 'verify');
    m.pendingStop = {
      reason: 'completed',
      detail:
        response.stopReason === 'max_tokens' ? 'the model ran out of output tokens' : 'the model finished its work',
    };
    return writer.commit(deps, 'finish');
  }
  if (m.modelCalls >= context.view.limits.maxSteps) {
    return stop(deps, writer, {
      reason: 'max_steps',
      detail: `the model asked for tools after its last allowed step (harness.max_steps: ${context.view.limits.maxSteps})`,
    });
  }
  m.stall = nextStallState(meta.stall, calls);
  if (isStalled(m.stall, context.view.limits.stallMaxRepeats)) {
    return stop(deps, writer, {
      reason: 'stalled',
      detail: `the same tool calls with the same arguments ${m.stall!.repeats} turns in a row (${calls.map((c) => c.name).join(', ')})`,
    });
  }
  // A new turn: approvals given for the last one's calls do not carry over.
  m.turn = undefined;
  const approval = approvalNeeded(state, calls);
  if (approval) return writer.commit(deps, 'approval', { approvalTimeoutSeconds: approval.timeoutSeconds });
  const maker = turnMaker(state, calls, elapsedSeconds);
  if (maker === 'with-answer') {
    // The calls see the run as this step leaves it (its turn, its counts), and are committed with the answer.
    await answerTurn(deps, { ...state, meta: m }, writer, calls);
    return writer.commit(deps, m.pendingStop ? 'finish' : 'model');
  }
  const toTools = await writer.commit(deps, 'tools');
  if (maker === 'tool-step') return toTools;
  // The ToolStep's work, on the state just committed: no second read.
  const tools = new StepWriter(writer.meta, { continuedFrom: meta.seq });
  await answerTurn(deps, { ...state, meta: tools.meta }, tools, calls);
  return tools.commit(deps, 'model');
}

/**
 * Before the call: its worst case must fit the run's own ceilings and, reserved atomically,
 * every budget that applies. The returned settle() replaces the reservation with the cost.
 */
type Reservation =
  | { stop: StopDecision }
  | { pause: { budget: string; amountMicros: number; detail: string } }
  | { settle: (actual: { micros: number; tokens: number }) => Promise<void>; release: () => Promise<void> };

async function reserve(deps: ModelStepDeps, state: StartedRunState): Promise<Reservation> {
  const { meta, context, messages } = state;
  const model = context.view.model;
  const promptChars =
    context.systemPrompt.length + JSON.stringify(messages).length + JSON.stringify(context.tools).length;
  const worst = worstCase(
    model.declaration.price,
    promptChars,
    Math.min(context.view.limits.maxOutputTokens, model.declaration.max_output_tokens ?? Infinity),
  );
  const ceiling = runCeiling(meta, context.view.limits, worst);
  if (ceiling) return { stop: ceiling };
  const now = deps.clock.now();
  const lines = budgetLines(
    context.view.budgets ?? [],
    { agent: meta.agent, team: meta.team, principal: meta.principal, model: model.name },
    now,
    worst,
    meta.budgetAllowances,
  );
  if (lines.length === 0) return { settle: async () => {}, release: async () => {} };
  const tooBig = lines.find(neverFits);
  if (tooBig?.onExhausted === 'pause_for_human' && tooBig.limitMicros !== undefined) {
    const usage = await deps.store.getBudgetUsage(tooBig.scope, tooBig.key, tooBig.periodKey);
    return { pause: budgetPause(tooBig, usage.usedMicros, worst.micros) };
  }
  if (tooBig)
    return {
      stop: {
        reason: 'budget_exhausted',
        detail: `${describeLine(tooBig)}: this call could cost up to ${formatUsd(worst.micros)} and ${worst.tokens} tokens, more than the whole limit`,
      },
    };
  // One charge per step, named by it: a step retried after a crash finds its reservation (or its
  // settled spend) instead of holding the budget a second time. The run records one call, and
  // so does the budget.
  const charge: BudgetCharge = {
    chargeId: `${meta.runId}-c${meta.seq}`,
    runId: meta.runId,
    lines,
    at: now.toISOString(),
  };
  const outcome = await deps.store.reserveBudget(charge);
  if (!outcome.ok && outcome.line.onExhausted === 'pause_for_human' && outcome.line.limitMicros !== undefined) {
    return { pause: budgetPause(outcome.line, outcome.usedMicros, worst.micros) };
  }
  if (!outcome.ok) {
    const detail = `${describeLine(outcome.line)}: ${formatUsd(outcome.usedMicros)} and ${outcome.usedTokens} tokens used or reserved; this call could cost up to ${formatUsd(worst.micros)} and ${worst.tokens} tokens`;
    // Held, not spent: concurrent runs' reservations settle within a model call, so wait for them.
    if (fitsBesideSpend(outcome.line, { micros: outcome.spentMicros, tokens: outcome.spentTokens }))
      throw new BudgetContendedError(detail);
    return { stop: { reason: 'budget_exhausted', detail } };
  }
  return {
    settle: async (actual) => {
      await deps.store.settleBudget(charge, actual);
      await alertOnThresholds(deps, lines, { runId: meta.runId, agent: meta.agent });
    },
    release: () => deps.store.releaseBudget(charge),
  };
}

/** The agent's requests_per_minute, shared by all its runs (checkers included): wait, or stop. */
async function rateLimit(
  deps: Pick<RunDeps, 'clock'> & { store: RateLimitStore },
  state: StartedRunState,
): Promise<StopDecision | null> {
  const limit = state.context.view.rateLimit;
  if (!limit) return null;
  const now = deps.clock.now();
  const window = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const granted = await deps.store.takeRateToken(
    `agent:${state.meta.agent}`,
    window.toISOString(),
    limit.requestsPerMinute,
    Math.floor(window.getTime() / 1000) + 3600,
  );
  if (granted) return null;
  const detail = `agent ${state.meta.agent} made its ${limit.requestsPerMinute} model requests this minute (budgets.yaml limits)`;
  if (limit.onRateLimited === 'stop') return { reason: 'rate_limited', detail };
  // The state machine retries this step with a patient backoff, so the run waits for the next minute.
  throw new RateLimitedError(detail);
}

/** "Approve +$N to continue": enough for this call, rounded up to a cent, at least a tenth of the budget. */
function budgetPause(line: BudgetLine, usedMicros: number, worstMicros: number) {
  const short = usedMicros + worstMicros - line.limitMicros!;
  const amountMicros = Math.ceil(Math.max(short, line.limitMicros! / 10) / 10_000) * 10_000;
  return {
    budget: line.name,
    amountMicros,
    detail: `${describeLine(line)} is exhausted: approve +${formatUsd(amountMicros)} for this run to continue`,
  };
}

/** Spend by agent, team, model and principal, added to today's rollups in the same commit. */
function rollupsFor(
  meta: RunMeta,
  role: 'maker' | 'checker',
  model: string,
  usage: Usage,
  now: Date,
): RollupIncrement[] {
  const date = now.toISOString().slice(0, 10);
  const base = {
    date,
    role,
    costMicros: usage.costMicros,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    calls: 1,
  };
  const rows: RollupIncrement[] = [
    { dimension: 'agent', key: meta.agent, ...base },
    { dimension: 'model', key: model, ...base },
    { dimension: 'user', key: meta.principal, ...base },
  ];
  if (meta.team) rows.push({ dimension: 'team', key: meta.team, ...base });
  return rows;
}

function approvalNeeded(state: StartedRunState, calls: ToolCallBlock[]) {
  const { context } = state;
  const requirements = calls
    .filter((call) => !answeredWithoutRunning(context, state.meta, call))
    .map((call) => context.tools.find((tool) => tool.name === call.name))
    .filter((spec) => spec !== undefined && !spec.builtin)
    .map((spec) =>
      approvalFor(
        spec!,
        context.view.approvals,
        DEFAULT_HARNESS.approval_timeout_seconds,
        untrustedWrite(state.meta, context.view.approveWritesAfterUntrusted),
      ),
    )
    .filter((requirement) => requirement !== null);
  if (requirements.length === 0) return null;
  return { timeoutSeconds: Math.min(...requirements.map((r) => r.timeoutSeconds)) };
}

function stop(
  deps: Pick<RunDeps, 'clock'> & { store: RunRecordStore },
  writer: StepWriter,
  decision: StopDecision,
): Promise<Control> {
  const now = deps.clock.now().toISOString();
  writer.meta.pendingStop = { reason: decision.reason, detail: decision.detail };
  writer.addTrace({
    kind: 'stop_decided',
    role: writer.meta.role,
    name: decision.reason,
    status: 'ok',
    startedAt: now,
    endedAt: now,
    latencyMs: 0,
    stopReason: decision.reason,
    detail: decision.detail,
  });
  return writer.commit(deps, 'finish');
}

export { stop as commitStop };
