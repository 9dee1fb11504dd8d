import type { RunContext } from '../../../core/definitions/context.ts';
import type { Message } from '../../../core/definitions/messages.ts';
import type { RunMeta } from '../../../core/definitions/run.ts';
import type { TraceEvent } from '../../../core/definitions/trace.ts';
import { ConcurrencyLimitError, ValidationError } from '../../../core/errors.ts';
import { MAX_SEQ_PAGE } from '../../../core/ports/store/runs.ts';
import type {
  MessagePage,
  RunQuery,
  RunRecordStore,
  LoadOptions,
  RunState,
  SeqPageQuery,
  StepCommit,
  TracePage,
} from '../../../core/ports/store/runs.ts';
import { addRollup } from './budgets.ts';
import { completeCall, sideEffectKey } from './side-effects.ts';
import { checkItemSize, keyPart, type MemoryTables } from './tables.ts';

/** DynamoDB's limit on one transaction, enforced here too: a step that would pass it fails in unit tests as on AWS. */
const MAX_TRANSACTION_ITEMS = 100;
const DEFAULT_LIST_LIMIT = 50;

interface StoredRun {
  /** The record as JSON text (input included), as the adapter keeps untrusted input. */
  meta: string;
  context?: string;
  /** By seq; JSON text. */
  messages: Map<number, string>;
  trace: Map<number, string>;
}

/**
 * Run records in memory with the adapter's semantics: idempotent creates, a concurrency slot
 * taken with the create, commits guarded by seq that apply whole or not at all (`stale`
 * when the run moved on or does not exist), append-only history, listings newest first.
 */
export class MemoryRunRecords implements RunRecordStore {
  private readonly runs = new Map<string, StoredRun>();
  private readonly tables: MemoryTables;

  constructor(tables: MemoryTables) {
    this.tables = tables;
  }

  async createRun(
    meta: RunMeta,
    options: { concurrencyLimit?: number } = {},
  ): Promise<{ created: boolean; meta: RunMeta }> {
    const existing = this.runs.get(keyPart('runId', meta.runId));
    if (existing) return { created: false, meta: parseMeta(existing.meta) };
    const limit = options.concurrencyLimit;
    const record = limit === undefined ? meta : { ...meta, concurrencyHeld: true };
    if (limit !== undefined) {
      const inFlight = this.tables.inFlight.get(meta.agent) ?? 0;
      if (inFlight >= limit) {
        throw new ConcurrencyLimitError(
          `agent "${meta.agent}" already has ${limit} run${limit === 1 ? '' : 's'} in flight (max_concurrent_runs: ${limit}); this trigger was refused`,
        );
      }
      this.tables.inFlight.set(meta.agent, inFlight + 1);
    }
    this.runs.set(meta.runId, { meta: storedMeta(record), messages: new Map(), trace: new Map() });
    return { created: true, meta: record };
  }

  async getRun(runId: string): Promise<RunMeta | undefined> {
    const run = this.runs.get(keyPart('runId', runId));
    return run ? parseMeta(run.meta) : undefined;
  }

  // The message count is a hint for reading by key; an in-memory map needs none.
  async loadState(runId: string, options: LoadOptions = {}): Promise<RunState | undefined> {
    const run = this.runs.get(keyPart('runId', runId));
    if (!run) return undefined;
    const all = inSeqOrder(run.messages).map(([, body]) => JSON.parse(body) as Message);
    const messages =
      options.lastMessages === undefined ? all : options.lastMessages === 0 ? [] : all.slice(-options.lastMessages);
    const meta = parseMeta(run.meta);
    return run.context ? { meta, context: JSON.parse(run.context) as RunContext, messages } : { meta, messages };
  }

  async commit(runId: string, commit: StepCommit): Promise<'committed' | 'stale'> {
    checkCommitShape(runId, commit);
    const run = this.runs.get(runId);
    // The seq guard comes first, as in the adapter's transaction: a moved-on run is `stale` whatever else clashes.
    if (!run || parseMeta(run.meta).seq !== commit.expectedSeq) return 'stale';
    const clash = [
      ...(commit.context && run.context !== undefined ? ['CTX'] : []),
      ...(commit.messages ?? []).filter(({ seq }) => run.messages.has(seq)).map(({ seq }) => `MSG#${pad(seq)}`),
      ...(commit.trace ?? []).filter(({ seq }) => run.trace.has(seq)).map(({ seq }) => `STEP#${pad(seq)}`),
    ][0];
    if (clash)
      throw new Error(`commit of run ${runId} would overwrite ${clash}, which already exists: nothing was written`);
    const unclaimed = (commit.sideEffects ?? []).find(
      ({ callId }) => !this.tables.sideEffects.has(sideEffectKey(runId, callId)),
    );
    if (unclaimed)
      throw new Error(
        `commit of run ${runId} records call ${unclaimed.callId}, which was never claimed: nothing was written`,
      );
    // Everything checked: now apply it all.
    run.meta = storedMeta(commit.meta);
    if (commit.context) run.context = JSON.stringify(commit.context);
    for (const { seq, message } of commit.messages ?? []) run.messages.set(seq, JSON.stringify(message));
    for (const event of commit.trace ?? []) run.trace.set(event.seq, JSON.stringify(event));
    for (const rollup of commit.rollups ?? []) addRollup(this.tables, rollup);
    for (const { callId, recorded, at } of commit.sideEffects ?? [])
      completeCall(this.tables.sideEffects, runId, callId, recorded, at);
    if (commit.releaseConcurrency) {
      const agent = commit.releaseConcurrency;
      this.tables.inFlight.set(agent, (this.tables.inFlight.get(agent) ?? 0) - 1);
    }
    return 'committed';
  }

  async listTrace(runId: string): Promise<TraceEvent[]> {
    const run = this.runs.get(keyPart('runId', runId));
    return run ? inSeqOrder(run.trace).map(([, body]) => JSON.parse(body) as TraceEvent) : [];
  }

  async listTracePage(runId: string, page: SeqPageQuery): Promise<TracePage> {
    const { items, nextAfterSeq } = seqPage(this.runs.get(keyPart('runId', runId))?.trace, page);
    return {
      events: items.map(([, body]) => JSON.parse(body) as TraceEvent),
      ...(nextAfterSeq === undefined ? {} : { nextAfterSeq }),
    };
  }

  async listMessagesPage(runId: string, page: SeqPageQuery): Promise<MessagePage> {
    const { items, nextAfterSeq } = seqPage(this.runs.get(keyPart('runId', runId))?.messages, page);
    return {
      messages: items.map(([seq, body]) => ({ seq, message: JSON.parse(body) as Message })),
      ...(nextAfterSeq === undefined ? {} : { nextAfterSeq }),
    };
  }

  async listRuns(query: RunQuery): Promise<RunMeta[]> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1)
      throw new ValidationError(`limit must be a whole number above 0, got ${limit}`);
    const agents = query.agent !== undefined ? [query.agent] : query.agents;
    const after = query.cursor ? listPosition(query.cursor) : undefined;
    return [...this.runs.values()]
      .map((run) => parseMeta(run.meta))
      .filter(
        (run) =>
          (agents === undefined || agents.includes(run.agent)) &&
          matches(run, query) &&
          (after === undefined || listPosition(run) < after),
      )
      .sort((a, b) => (listPosition(a) < listPosition(b) ? 1 : listPosition(a) > listPosition(b) ? -1 : 0))
      .slice(0, limit);
  }
}

/**
 * What the adapter refuses before writing anything: a foreign record, a seq that does not
 * follow, an oversized transaction or item.
 */
function checkCommitShape(runId: string, commit: StepCommit): void {
  if (commit.meta.runId !== runId)
    throw new Error(`commit for run ${runId} carries the record of run ${commit.meta.runId}`);
  if (commit.meta.seq !== commit.expectedSeq + 1) {
    throw new Error(
      `commit for run ${runId} must move seq from ${commit.expectedSeq} to ${commit.expectedSeq + 1}, but its record has seq ${commit.meta.seq}`,
    );
  }
  const count =
    1 +
    (commit.context ? 1 : 0) +
    (commit.messages?.length ?? 0) +
    (commit.rollups?.length ?? 0) +
    (commit.releaseConcurrency ? 1 : 0) +
    (commit.trace?.length ?? 0);
  if (count > MAX_TRANSACTION_ITEMS) {
    throw new ValidationError(
      `a step of run ${runId} tried to commit ${count} items (1 run record, ${commit.context ? '1 snapshot, ' : ''}` +
        `${commit.messages?.length ?? 0} messages, ${commit.trace?.length ?? 0} trace events); ` +
        `DynamoDB allows at most ${MAX_TRANSACTION_ITEMS} in one transaction`,
    );
  }
  const rollupKeys = (commit.rollups ?? []).map((r) => `${r.dimension}#${r.key}#${r.date}`);
  if (new Set(rollupKeys).size !== rollupKeys.length) {
    throw new ValidationError(
      'DynamoDB rejected commit: Transaction request cannot include multiple operations on one item',
    );
  }
  for (const item of [commit.meta, commit.context, ...(commit.messages ?? []), ...(commit.trace ?? [])])
    checkItemSize('commit', item);
}

/** The record as the adapter stores it: input as text (`null` when absent). */
function storedMeta(meta: RunMeta): string {
  return JSON.stringify({ ...meta, input: meta.input ?? null });
}

function parseMeta(text: string): RunMeta {
  return JSON.parse(text) as RunMeta;
}

/** The run index's sort key: creation time, then run id (ISO times have a fixed length). */
function listPosition(run: { createdAt: string; runId: string }): string {
  return `${run.createdAt}#${run.runId}`;
}

function matches(run: RunMeta, query: RunQuery): boolean {
  return (
    (query.status === undefined || run.status === query.status) &&
    (query.role === undefined || run.role === query.role) &&
    (query.stopReason === undefined || run.stopReason === query.stopReason) &&
    (query.triggerKind === undefined || run.trigger?.kind === query.triggerKind) &&
    (query.createdFrom === undefined || run.createdAt >= query.createdFrom) &&
    (query.createdBefore === undefined || run.createdAt < query.createdBefore)
  );
}

function inSeqOrder(items: Map<number, string>): Array<[number, string]> {
  return [...items.entries()].sort(([a], [b]) => a - b);
}

function seqPage(
  items: Map<number, string> | undefined,
  page: SeqPageQuery,
): { items: Array<[number, string]>; nextAfterSeq?: number } {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > MAX_SEQ_PAGE) {
    throw new ValidationError(`limit must be a whole number from 1 to ${MAX_SEQ_PAGE}, got ${page.limit}`);
  }
  if (page.afterSeq !== undefined && (!Number.isInteger(page.afterSeq) || page.afterSeq < 0)) {
    throw new ValidationError(`afterSeq must be a whole number, 0 or more, got ${page.afterSeq}`);
  }
  const after = inSeqOrder(items ?? new Map()).filter(([seq]) => page.afterSeq === undefined || seq > page.afterSeq);
  if (after.length <= page.limit) return { items: after };
  const shown = after.slice(0, page.limit);
  return { items: shown, nextAfterSeq: shown.at(-1)![0] };
}

function pad(seq: number): string {
  return String(seq).padStart(9, '0');
}
