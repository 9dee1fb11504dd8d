import type { Message } from '../../definitions/messages.ts';
import type { Role, RunMeta, RunStatus, StopReason, TriggerInfo } from '../../definitions/run.ts';
import type { TraceEvent } from '../../definitions/trace.ts';
import type { RunContext } from '../../definitions/context.ts';
import type { RollupIncrement } from './budgets.ts';
import type { RecordedCall } from './side-effects.ts';

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
  /**
   * Claimed side-effecting calls whose outcome this commit records (SideEffectLedger's
   * completeSideEffect, in the same transaction): a turn's only call, made just before.
   */
  sideEffects?: CompletedSideEffect[];
}

/** A claimed call's outcome, recorded by a step's commit. */
export interface CompletedSideEffect {
  callId: string;
  recorded: RecordedCall;
  at: string;
}

/** What a step reads of its run (RunRecordStore.loadState). */
export interface LoadOptions {
  /**
   * Only that many of the newest messages: a step that needs just the last turn then reads a
   * few KB however long the conversation has grown.
   */
  lastMessages?: number;
  /**
   * How many messages the caller was told the run holds (the control it was handed). With
   * `lastMessages`, the store can read the record and those messages by key in one request;
   * a count the record does not confirm costs a second read, never a wrong answer.
   */
  messageCount?: number;
}

export interface RunState {
  meta: RunMeta;
  context?: RunContext;
  messages: Message[];
}

/** Where a listing left off: the last run it returned. */
export interface RunCursor {
  createdAt: string;
  runId: string;
}

/** Runs newest first (by creation time, then run id). */
export interface RunQuery {
  agent?: string;
  /**
   * Only these agents' runs, merged newest first: one index query each. Without `agent` or
   * `agents`, runs of every agent are listed (by status, never by reading the whole table).
   * Ignored with `agent`.
   */
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

/**
 * Runs: the record, its snapshot, its conversation and its trace, and the listings of them.
 *
 * It also owns the agents' concurrency slots and the writes of the daily rollups, although
 * those are budget matters: a run takes its slot in the transaction that creates it, and a
 * step adds its spend and gives the slot back in the transaction that commits it. Moving
 * either to another port would split a transaction that is atomic today.
 */
export interface RunRecordStore {
  /**
   * Creates the run unless one with its id exists; returns what is stored either way.
   * With a concurrency limit, the run also takes one of its agent's slots, atomically:
   * throws ConcurrencyLimitError when none is free (and creates nothing).
   */
  createRun(meta: RunMeta, options?: { concurrencyLimit?: number }): Promise<{ created: boolean; meta: RunMeta }>;
  getRun(runId: string): Promise<RunMeta | undefined>;
  /** The run record, its snapshot and its conversation (or its newest messages), in as few reads as the store allows. */
  loadState(runId: string, options?: LoadOptions): Promise<RunState | undefined>;
  /** `stale` when another attempt already committed this step: nothing was written. */
  commit(runId: string, commit: StepCommit): Promise<'committed' | 'stale'>;
  listTrace(runId: string): Promise<TraceEvent[]>;
  /** A page of the trace: runs of thousands of steps are read (and shown) a page at a time. */
  listTracePage(runId: string, page: SeqPageQuery): Promise<TracePage>;
  /** A page of the conversation, without the snapshot and run record loadState reads. */
  listMessagesPage(runId: string, page: SeqPageQuery): Promise<MessagePage>;
  listRuns(query: RunQuery): Promise<RunMeta[]>;
}
