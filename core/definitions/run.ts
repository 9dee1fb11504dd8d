import { TriggerKind } from './trigger-kinds.ts';
import * as z from './zod.ts';

/** Every run ends with exactly one of these. */
export const STOP_REASONS = [
  'verified',
  'completed',
  'verification_failed',
  'max_steps',
  'token_budget',
  'budget_exhausted',
  'stalled',
  'rejected',
  'approval_expired',
  'timeout',
  'guardrail_blocked',
  'rate_limited',
  'model_unavailable',
  'cancelled',
  'error',
] as const;
export const StopReason = z.enum(STOP_REASONS);
export type StopReason = z.infer<typeof StopReason>;

export const RunStatus = z.enum(['queued', 'running', 'paused', 'finished', 'failed']);
export type RunStatus = z.infer<typeof RunStatus>;

/** Where the state machine goes next; returned by every step. */
/** `continue`: the run goes on in a new execution (core/run/continuation.ts); never stored. */
/** `delegate`: the state machine runs a sub-agent's (or, with `returnTo: verify`, the checker's) child execution (`childRunId`), then the ToolStep (or Verify) again. */
export const NextStep = z.enum(['model', 'tools', 'approval', 'verify', 'finish', 'continue', 'delegate']);
export type NextStep = z.infer<typeof NextStep>;

/**
 * The whole state machine payload: ids and control fields only. Conversation, tool
 * results and the definition snapshot live in DynamoDB, so the payload stays a few
 * hundred bytes however long the run.
 */
export const Control = z.strictObject({
  runId: z.string().check(z.minLength(1)),
  /** How many steps the run has committed; a retried step sees it already moved on. */
  seq: z.number().check(z.int(), z.minimum(0)),
  next: NextStep,
  /** Set when next is `approval`: how long the wait may last. */
  approvalTimeoutSeconds: z.optional(z.number().check(z.int(), z.positive())),
  /** Set when next is `continue`: which execution of the run comes next. */
  epoch: z.optional(z.number().check(z.int(), z.positive())),
  /** Set when next is `continue`: that execution's name (core/run/continuation.ts `executionNameFor`), which the state machine starts it by. */
  executionName: z.optional(z.string().check(z.minLength(1), z.maxLength(80))),
  /** Set when next is `delegate`: the sub-agent run the Delegate state starts as a child execution and waits for. */
  childRunId: z.optional(z.string().check(z.minLength(1))),
  /** Set with `delegate` when the child is the checker: after the Delegate state the run goes back to Verify (not the ToolStep). */
  returnTo: z.optional(z.enum(['verify'])),
  /** Set with `tools` and `delegate`: the run's message count, so the ToolStep reads the last turn by key (core/run/step-writer.ts). */
  messageCount: z.optional(z.number().check(z.int(), z.minimum(0))),
});
export type Control = z.infer<typeof Control>;

/** What a step handler receives: the previous step's control fields. */
export const StepInput = z.object({
  runId: z.string().check(z.minLength(1)),
  seq: z.number().check(z.int(), z.minimum(0)),
  /** The execution's name ($$.Execution.Name), where the step decides on continue-as-new. */
  execution: z.optional(z.string().check(z.minLength(1))),
  /** The control's message count, where the previous step set one (a hint: the run record decides). */
  messageCount: z.optional(z.number().check(z.int(), z.minimum(0))),
});
export type StepInput = z.infer<typeof StepInput>;

/** `resumeSeq`: a continued execution picks the run up at this seq instead of starting it. */
export const StartInput = z.object({
  runId: z.string().check(z.minLength(1)),
  resumeSeq: z.optional(z.number().check(z.int(), z.minimum(1))),
});

export const FailInput = z.object({
  runId: z.string().check(z.minLength(1)),
  error: z.optional(z.object({ Error: z.string(), Cause: z.optional(z.unknown()) })),
});
export type FailInput = z.infer<typeof FailInput>;

export const Role = z.enum(['maker', 'checker']);
export type Role = z.infer<typeof Role>;

export const TriggerInfo = z.object({
  kind: TriggerKind,
  detail: z.optional(z.string()),
});
export type TriggerInfo = z.infer<typeof TriggerInfo>;

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  /** Cost in millionths of a USD: integers add up exactly. */
  costMicros: number;
}

export const ZERO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, costMicros: 0 };

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
    costMicros: a.costMicros + b.costMicros,
  };
}

export function totalTokens(usage: Usage): number {
  return usage.inputTokens + usage.outputTokens;
}

export interface StallState {
  signature: string;
  repeats: number;
}

export interface Verdict {
  pass: boolean;
  feedback: string;
}

/**
 * Turn-only state: approvals decided for the calls of the last model turn, and child runs
 * handed to the state machine while a step waits for them. The ToolStep clears it when it
 * writes the turn's results, and a new model turn starts without it.
 */
export interface TurnState {
  /** Tool calls of the current turn that an approver allowed. */
  approvedCallIds?: string[];
  /** For each approved call: the hash of tool, arguments and policy version the approver saw (core/approvals/binding.ts). */
  approvedBindings?: Record<string, string>;
  /** Tool calls of the current turn an approver rejected (on_reject: continue): the model reads why. */
  rejectedCalls?: { callIds: string[]; reason: string };
  /**
   * Sub-agent (ToolStep) or checker (Verify) runs handed to the state machine's Delegate state
   * (no in-process children port), so the step that comes back knows the child had its execution.
   */
  delegatedRuns?: string[];
  /** Verify: how many of verify.checks passed in this attempt (one check per Verify invocation). */
  checksPassed?: number;
}

/** The run record (`RUN#id / META`): small, rewritten whole by each step's commit. */
export interface RunMeta {
  runId: string;
  agent: string;
  agentVersion?: string;
  team?: string;
  owner?: string;
  principal: string;
  trigger: TriggerInfo;
  role: Role;
  /** For a sub-agent run: the run it works for. */
  parentRunId?: string;
  /** For a sub-agent run: which declared sub-agent it is. */
  subagent?: string;
  dedupeKey?: string;
  input: unknown;
  status: RunStatus;
  stopReason?: StopReason;
  stopDetail?: string;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  /** Steps committed; the optimistic-concurrency guard for every write. */
  seq: number;
  messageCount: number;
  traceCount: number;
  modelCalls: number;
  toolCalls: number;
  verifyAttempts: number;
  /** The maker's own model usage. */
  usage: Usage;
  /** Usage of checker runs, rolled up here and shown apart. */
  checkerUsage: Usage;
  stall?: StallState;
  /** Decided by a step, applied by FinishRun. */
  pendingStop?: { reason: StopReason; detail?: string };
  /** The control fields the last commit returned, replayed to a retried step. */
  lastControl?: Control;
  /**
   * Set by a step that committed twice (a ModelStep that went on to make its turn's calls,
   * core/run/tool-turn.ts): the seq it was invoked at, so its retry replays lastControl.
   */
  continuedFrom?: number;
  verdict?: Verdict;
  /** Verification passed and released the tools verify.release holds: the maker's next final answer ends the run `verified`. */
  verified?: { attempt: number; at: string };
  /** Set while an approval is pending (kept after a budget approval until the turn's results are written). */
  pendingApprovalId?: string;
  /** What the current turn's decisions left for the step that completes it; cleared as one with its results. */
  turn?: TurnState;
  /** A budget that paused the run (on_exhausted: pause_for_human), waiting for more allowance. */
  pendingBudgetRequest?: { budget: string; amountMicros: number; detail: string };
  /** Extra spend approvers allowed this run, per budget name (micro-USD). */
  budgetAllowances?: Record<string, number>;
  /** This run counts against its agent's max_concurrent_runs until it ends. */
  concurrencyHeld?: boolean;
  /** The context holds untrusted content: a tool's result, or a webhook or event as input. */
  untrusted?: boolean;
  /** Tools of deferred servers the model loaded, in load order (so the tool list's prefix stays stable for caching). */
  loadedTools?: string[];
  /** When the run's sandbox was copied in, as its last sandbox call found it: a later call that finds another time tells the model it starts afresh. */
  sandboxCreatedAt?: string;
  /** Handles of tool results offloaded to the result store (looprail__read_result reads them). */
  offloadedResults?: string[];
  /** Older turns summarised: messages 1 … through-1 are replaced in the model's context by the summary (the task, message 0, stays). */
  compaction?: { through: number; summary: string; count: number };
  /** For a checker run: model calls its earlier attempts made (scripted models play on from there). */
  callOffset?: number;
  /** The registry skill versions this run could load, as StartRun resolved and verified them. */
  skills?: Array<{ name: string; version: string; sha256: string }>;
  /** The skill versions the model actually loaded (`name@version`), in order. */
  skillsLoaded?: string[];
  /** How many delegations below the root run this run is (0 or absent for a root run). */
  depth?: number;
  /** Usage of the sub-agent runs this run delegated to, rolled up here and shown apart. */
  subagentUsage?: Usage;
}

/** Approval context for a call: whether the agent's untrusted-content rule applies now. */
export function untrustedWrite(
  meta: RunMeta,
  approveWritesAfterUntrusted: boolean | undefined,
): { untrustedWrite: boolean } {
  return { untrustedWrite: approveWritesAfterUntrusted === true && meta.untrusted === true };
}

/** Everything the run spent: its own calls, its checker runs, and the sub-agent runs it delegated to. */
export function runUsage(meta: Pick<RunMeta, 'usage' | 'checkerUsage'> & { subagentUsage?: Usage }): Usage {
  return addUsage(addUsage(meta.usage, meta.checkerUsage), meta.subagentUsage ?? ZERO_USAGE);
}
