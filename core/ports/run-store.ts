import type { Message, ToolResultBlock } from '../definitions/messages.ts';
import type { Role, RunMeta, RunStatus, StopReason, TriggerInfo } from '../definitions/run.ts';
import type { NewTraceEvent, TraceEvent } from '../definitions/trace.ts';
import type { BudgetCharge, BudgetLine } from '../budgets/reservation.ts';
import type { RunContext } from '../definitions/context.ts';

/** Everything one step writes, applied atomically or not at all. */
export interface StepCommit {
  /** The commit applies only if the stored run is still at this seq. */
  expectedSeq: number;
  /** The whole new run record (its seq is expectedSeq + 1). */
  meta: RunMeta;
  /** New messages, numbered by the core from the run's messageCount. */
  messages?: Array<{ seq: number; message: Message }>;
  /** New trace events, numbered by the core from the run's traceCount. */
  trace?: TraceEvent[];
  /** Written once, by StartRun: the run's snapshot of its definition. */
  context?: RunContext;
  /** Spend to add to the daily rollups, in the same transaction as the step that spent it. */
  rollups?: RollupIncrement[];
  /** The agent whose concurrency slot this (ending) run gives back. */
  releaseConcurrency?: string;
}

export type RollupDimension = 'agent' | 'team' | 'model' | 'user';

export interface RollupIncrement {
  dimension: RollupDimension;
  key: string;
  /** UTC day, `2026-11-24`. */
  date: string;
  role: 'maker' | 'checker';
  costMicros: number;
  inputTokens: number;
  outputTokens: number;
  calls: number;
}

export interface RollupRow {
  dimension: RollupDimension;
  key: string;
  date: string;
  costMicros: number;
  checkerCostMicros: number;
  inputTokens: number;
  outputTokens: number;
  calls: number;
}

export type ReserveOutcome = { ok: true } | { ok: false; line: BudgetLine; usedMicros: number; usedTokens: number; spentMicros: number; spentTokens: number };

export interface BudgetUsage {
  /** Spent plus still reserved: what a new reservation must fit beside. */
  usedMicros: number;
  usedTokens: number;
  spentMicros: number;
  spentTokens: number;
}

export interface RunState {
  meta: RunMeta;
  context?: RunContext;
  messages: Message[];
}

export interface ApprovalRecord {
  approvalId: string;
  runId: string;
  /** The run's seq when the wait began. */
  seq: number;
  /** Kept server-side only: never in a link, an email, a log or a trace. */
  taskToken: string;
  tools: string[];
  callIds: string[];
  reasons: string[];
  approvers: string[];
  status: 'pending' | 'approved' | 'rejected' | 'expired';
  /** A budget increase rather than tool calls ("approve +$N to continue"). */
  budget?: { name: string; amountMicros: number };
  createdAt: string;
  expiresAt: string;
  /** What a rejection does (the strictest rule of the calls waiting): tell the model, or stop the run. */
  onReject?: 'continue' | 'stop';
  /** Per call: a hash of tool, exact arguments and policy version (core/approvals/binding.ts). */
  bindings?: Array<{ callId: string; hash: string }>;
  /** Set once, by the one decision that won. */
  decision?: ApprovalDecision;
  /** Two-person rule: approvals needed (absent: 1), and who has approved so far. */
  requiredApprovals?: number;
  approvedBy?: string[];
  /** When the approvers are reminded (the rule's remind_before before expiry); set once sent. */
  remindAt?: string;
  reminderSentAt?: string;
  /** When `escalateTo` joins the approvers and is mailed links (the rule's escalate_after); set once done. */
  escalateAt?: string;
  escalateTo?: string[];
  escalatedAt?: string;
}

/** Who decided, when, how, and through which link (or as which operator). */
export interface ApprovalDecision {
  outcome: 'approved' | 'rejected';
  by: string;
  at: string;
  comment?: string;
  /** `link mailed to <recipient>` or `operator <principal>`. */
  via: string;
}

/** A side-effecting call's outcome as the tool step recorded it: replayed exactly by a retry. */
export interface RecordedCall {
  result: ToolResultBlock;
  trace: NewTraceEvent;
  /** A run_code call's own tool calls (code mode), replayed with it. */
  inner?: Array<{ kind: string; trace: NewTraceEvent; called?: boolean }>;
}

/** What a retried tool step finds when it is about to repeat a side-effecting call. */
export type SideEffectClaim =
  /** First time: go ahead and call. */
  | { state: 'claimed' }
  /** The call ran and its outcome was recorded: use it, do not call again. */
  | { state: 'completed'; recorded: RecordedCall }
  /** An earlier attempt started the call and never recorded an outcome: it may have acted. */
  | { state: 'in_doubt'; startedAt: string };

/** Where a listing left off: the last run it returned. */
export interface RunCursor {
  createdAt: string;
  runId: string;
}

/** Runs newest first (by creation time, then run id). */
export interface RunQuery {
  agent?: string;
  /** Only these agents' runs, merged newest first: one index query each instead of a table scan. Ignored with `agent`. */
  agents?: string[];
  limit?: number;
  status?: RunStatus;
  role?: Role;
  /** Only runs after this one in the listing's order (the next page). */
  cursor?: RunCursor;
  stopReason?: StopReason;
  triggerKind?: TriggerInfo['kind'];
  /** Runs created at or after this ISO time. */
  createdFrom?: string;
  /** Runs created before this ISO time. */
  createdBefore?: string;
}

/** One page of a run's trace or conversation, in seq order; `nextAfterSeq` is there when more follow. */
export interface SeqPageQuery {
  /** Only items after this seq (the previous page's nextAfterSeq). */
  afterSeq?: number;
  /** 1 to MAX_SEQ_PAGE. */
  limit: number;
}

/** The most trace events or messages one page read returns. */
export const MAX_SEQ_PAGE = 1000;

export interface TracePage {
  events: TraceEvent[];
  nextAfterSeq?: number;
}

export interface MessagePage {
  messages: Array<{ seq: number; message: Message }>;
  nextAfterSeq?: number;
}

/** The run's state in one table (docs/architecture.md, Data: the one table). */
export interface RunStore {
  /**
   * Creates the run unless one with its id exists; returns what is stored either way.
   * With a concurrency limit, the run also takes one of its agent's slots, atomically:
   * throws ConcurrencyLimitError when none is free (and creates nothing).
   */
  createRun(meta: RunMeta, options?: { concurrencyLimit?: number }): Promise<{ created: boolean; meta: RunMeta }>;
  getRun(runId: string): Promise<RunMeta | undefined>;
  /**
   * The run record, its snapshot and its conversation, in as few reads as the store allows.
   * With `lastMessages`, only that many of the newest messages: a step that needs just the
   * last turn then reads a few KB however long the conversation has grown.
   */
  loadState(runId: string, options?: { lastMessages?: number }): Promise<RunState | undefined>;
  /** `stale` when another attempt already committed this step: nothing was written. */
  commit(runId: string, commit: StepCommit): Promise<'committed' | 'stale'>;
  listTrace(runId: string): Promise<TraceEvent[]>;
  /** A page of the trace: runs of thousands of steps are read (and shown) a page at a time. */
  listTracePage(runId: string, page: SeqPageQuery): Promise<TracePage>;
  /** A page of the conversation, without the snapshot and run record loadState reads. */
  listMessagesPage(runId: string, page: SeqPageQuery): Promise<MessagePage>;
  listRuns(query: RunQuery): Promise<RunMeta[]>;
  /** Idempotent by approvalId (the first write wins); true when this call created the record. */
  putApproval(record: ApprovalRecord): Promise<boolean>;
  /**
   * A retried wait gets a fresh task token and the earlier one is dead: a pending approval
   * takes the new one (a decided one is left as it is), or approving it would resume nothing.
   */
  renewApprovalToken(approvalId: string, taskToken: string): Promise<void>;
  getApproval(approvalId: string): Promise<ApprovalRecord | undefined>;
  /**
   * Moves a pending approval to its end state in one conditional write: exactly one caller
   * wins (true); every other finds it no longer pending (false) and nothing changes.
   */
  settleApproval(approvalId: string, status: 'approved' | 'rejected' | 'expired', decision?: ApprovalDecision): Promise<boolean>;
  /**
   * Adds one approver to a pending approval that needs several, atomically: the list after
   * the addition, or undefined when it is no longer pending or they had approved already.
   */
  addApprover(approvalId: string, approver: string): Promise<string[] | undefined>;
  /**
   * Marks a pending approval's reminder or escalation done, in one conditional write
   * (pending, and not marked before): exactly one of racing sweepers gets the record after
   * the write; every other gets undefined. An escalation also adds `addApprovers`.
   */
  claimApprovalAction(approvalId: string, action: 'reminder' | 'escalation', at: string, addApprovers?: string[]): Promise<ApprovalRecord | undefined>;
  /**
   * Counts one use against a fixed window's limit, atomically: true when it fits, false
   * when the window is full (nothing is counted then).
   */
  takeRateToken(subject: string, windowStart: string, limit: number, expiresAt: number): Promise<boolean>;
  /**
   * Reserves a charge against every line in one transaction, each conditional on fitting
   * under its limit, with a ledger row keyed by the charge id: a retried reservation never
   * counts twice. Nothing is reserved when any line does not fit.
   */
  reserveBudget(charge: BudgetCharge): Promise<ReserveOutcome>;
  /** Replaces the charge's reservation with what it actually cost; a repeated settle changes nothing. */
  settleBudget(charge: BudgetCharge, actual: { micros: number; tokens: number }): Promise<void>;
  /**
   * Gives a reservation back and forgets the charge (the call was not made, or failed unbilled),
   * so the same charge id may be reserved again by the step's retry; a settled charge is left as it is.
   */
  releaseBudget(charge: BudgetCharge): Promise<void>;
  getBudgetUsage(scope: string, key: string, periodKey: string): Promise<BudgetUsage>;
  /** True for the first caller only: one alert per budget, period and threshold. */
  claimAlert(budget: string, periodKey: string, threshold: number, at: string): Promise<boolean>;
  listRollups(dimension: RollupDimension, fromDate: string, toDate: string): Promise<RollupRow[]>;
  /** Written before a call that may change something, so a retry never repeats it blindly. */
  claimSideEffect(runId: string, callId: string, tool: string, at: string): Promise<SideEffectClaim>;
  /** Records the call's outcome (errors included) for a retry to reuse. */
  completeSideEffect(runId: string, callId: string, recorded: RecordedCall, at: string): Promise<void>;
}
