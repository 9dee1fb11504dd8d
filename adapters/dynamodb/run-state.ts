import type { QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { RunContext } from '../../core/definitions/context.ts';
import type { Message } from '../../core/definitions/messages.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { LoadOptions, RunState } from '../../core/ports/store/runs.ts';
import {
  KEY_ATTRIBUTES,
  MESSAGE_SK_PREFIX,
  RUN_CONTEXT_SK,
  RUN_META_SK,
  RUN_STATE_SK_RANGE,
  messageKey,
  runContextKey,
  runMetaKey,
  runPartition,
} from './keys.ts';
import type { Item } from './query-pages.ts';
import { metaOf } from './run-listing.ts';
import { MAX_BATCH_GET, type TableClient } from './table-client.ts';

/**
 * The run snapshots (CTX) this container has read, as their JSON text. A snapshot is written
 * once, by StartRun's commit, and never changes, so a warm container need not read it again:
 * each is kept with its run's `createdAt`, and used only for a record with the same one (a
 * run id made again after its items expired is another run, with another snapshot). Each
 * read parses its own copy. Bounded by text size, the least recently used go first.
 */
export class SnapshotCache {
  private readonly entries = new Map<string, { createdAt: string; body: string }>();
  private size = 0;
  private readonly maxChars: number;

  constructor(maxChars = 4_000_000) {
    this.maxChars = maxChars;
  }

  /** Whether a snapshot of this run id is kept (of which incarnation is known once its record is read). */
  has(runId: string): boolean {
    return this.entries.has(runId);
  }

  get(runId: string, createdAt: string): RunContext | undefined {
    const entry = this.entries.get(runId);
    if (entry?.createdAt !== createdAt) return undefined;
    this.entries.delete(runId);
    this.entries.set(runId, entry);
    return JSON.parse(entry.body) as RunContext;
  }

  set(runId: string, createdAt: string, body: string): void {
    this.drop(runId);
    if (body.length > this.maxChars) return;
    this.entries.set(runId, { createdAt, body });
    this.size += body.length;
    for (const [oldest] of this.entries) {
      if (this.size <= this.maxChars) break;
      this.drop(oldest);
    }
  }

  private drop(runId: string): void {
    const entry = this.entries.get(runId);
    if (!entry) return;
    this.size -= entry.body.length;
    this.entries.delete(runId);
  }
}

/**
 * A run's state as a step reads it (RunRecordStore.loadState), in one request where it can:
 * - the whole conversation: one consistent Query over CTX < META < MSG#… (trace events,
 *   STEP#…, excluded), starting at META when the snapshot is cached;
 * - the newest messages with the count the caller was handed: one BatchGetItem of META and
 *   those messages by key (and CTX when not cached); when the record's count differs, the
 *   next way;
 * - the newest messages without a count: two Queries at once, CTX and META, and the
 *   messages read backwards.
 */
export class RunStateReader {
  private readonly table: TableClient;
  private readonly snapshots: SnapshotCache;

  constructor(table: TableClient, snapshots = new SnapshotCache()) {
    this.table = table;
    this.snapshots = snapshots;
  }

  async loadState(runId: string, options: LoadOptions = {}): Promise<RunState | undefined> {
    const { lastMessages, messageCount } = options;
    if (lastMessages !== undefined && messageCount !== undefined) {
      const byKey = await this.byKey(runId, lastMessages, messageCount);
      if (byKey) return byKey;
    }
    const from = this.snapshots.has(runId) ? RUN_META_SK : RUN_CONTEXT_SK;
    const items =
      lastMessages === undefined
        ? await this.range(runId, from, RUN_STATE_SK_RANGE.to)
        : (await Promise.all([this.range(runId, from, RUN_META_SK), this.newest(runId, lastMessages)])).flat();
    return this.stateOf(runId, items);
  }

  /** META, the messages before `messageCount`'s end and (unless cached) CTX, by key; undefined when the record's count differs. */
  private async byKey(runId: string, lastMessages: number, messageCount: number): Promise<RunState | undefined> {
    const first = Math.max(0, messageCount - lastMessages);
    if (messageCount - first + 2 > MAX_BATCH_GET) return undefined;
    const keys: Item[] = [runMetaKey(runId)];
    if (!this.snapshots.has(runId)) keys.push(runContextKey(runId));
    for (let seq = first; seq < messageCount; seq++) keys.push(messageKey(runId, seq));
    const items = await this.table.getItems('loadState', keys);
    const meta = items.find((item) => item.sk === RUN_META_SK);
    if (!meta || metaOf(meta).messageCount !== messageCount) return undefined;
    // Messages are numbered from 0 by the step writer: the record's count names every one asked for.
    const found = items.filter((item) => String(item.sk).startsWith(MESSAGE_SK_PREFIX)).length;
    if (found !== messageCount - first) return undefined;
    // Messages in seq order: a batch answers in any order (zero-padded keys sort as their seq).
    const ordered = items.sort((a, b) => String(a.sk).localeCompare(String(b.sk)));
    return this.stateOf(runId, ordered);
  }

  private range(runId: string, from: string, to: string, extra: Partial<QueryCommandInput> = {}): Promise<Item[]> {
    return this.table.queryAll('loadState', {
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey, '#sk': KEY_ATTRIBUTES.sortKey },
      ExpressionAttributeValues: { ':pk': runPartition(runId), ':from': from, ':to': to },
      ConsistentRead: true,
      ...extra,
    });
  }

  private async newest(runId: string, count: number): Promise<Item[]> {
    if (count === 0) return [];
    const items = await this.range(runId, MESSAGE_SK_PREFIX, RUN_STATE_SK_RANGE.to, {
      ScanIndexForward: false,
      Limit: count,
    });
    return items.reverse();
  }

  /** Items in key order (CTX, META, MSG#…) as the state; the snapshot from the cache when it was not read. */
  private async stateOf(runId: string, items: Item[]): Promise<RunState | undefined> {
    let meta: RunMeta | undefined;
    let body: string | undefined;
    const messages: Message[] = [];
    for (const item of items) {
      if (item.sk === RUN_META_SK) meta = metaOf(item);
      else if (item.sk === RUN_CONTEXT_SK) body = item.body as string;
      else messages.push(JSON.parse(item.body as string) as Message);
    }
    if (!meta) return undefined;
    const context = await this.snapshot(runId, meta, body);
    return context ? { meta, context, messages } : { meta, messages };
  }

  /** The snapshot read now, else the cached one of this run, else (another incarnation's was cached) read by key. */
  private async snapshot(runId: string, meta: RunMeta, body: string | undefined): Promise<RunContext | undefined> {
    if (body === undefined) {
      const cached = this.snapshots.get(runId, meta.createdAt);
      if (cached || !this.snapshots.has(runId)) return cached;
      body = (await this.table.getItem('loadState', runContextKey(runId)))?.body as string | undefined;
      if (body === undefined) return undefined;
    }
    this.snapshots.set(runId, meta.createdAt, body);
    return JSON.parse(body) as RunContext;
  }
}
