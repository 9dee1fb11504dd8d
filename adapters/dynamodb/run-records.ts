import type { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Message } from '../../core/definitions/messages.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { ConcurrencyLimitError, TransientError, ValidationError } from '../../core/errors.ts';
import { MAX_SEQ_PAGE } from '../../core/ports/store/runs.ts';
import type {
  LoadOptions,
  MessagePage,
  RunQuery,
  RunRecordStore,
  RunState,
  SeqPageQuery,
  StepCommit,
  TracePage,
} from '../../core/ports/store/runs.ts';
import { rollupUpdate } from './budget-ledger.ts';
import { completedCall } from './side-effect-ledger.ts';
import { TRANSIENT_CANCELLATION_CODES, cancellationCodes, cancellationCodesOf, errorName } from './errors.ts';
import {
  KEY_ATTRIBUTES,
  MESSAGE_SK_PREFIX,
  TRACE_SK_PREFIX,
  concurrencyKey,
  messageKey,
  runContextKey,
  runIndexKey,
  runMetaKey,
  runPartition,
  runStatusIndexKey,
  traceKey,
} from './keys.ts';
import type { Item } from './query-pages.ts';
import { listRuns, metaOf } from './run-listing.ts';
import { RunStateReader } from './run-state.ts';
import { TABLE_KEY_SCHEMA } from './table.ts';
import type { TableClient, TransactItem } from './table-client.ts';

/**
 * Runs on the table. Items in a run's partition (`RUN#<id>`):
 *   META      the run record: `meta` (map) plus top-level `seq`, `status`, `agent` and the
 *             keys of both run indexes (by agent; by status, which is `status` itself);
 *             `seq` is the optimistic-concurrency guard of every commit
 *   CTX       the definition snapshot as a JSON string in `body` (it carries JSON schemas
 *             with arbitrary keys, which are safer as text than as nested maps)
 *   MSG#n     one conversation message as a JSON string in `body` (model output is untrusted)
 *   STEP#n    one trace event in `event` (map), with `expiresAt` when a retention is set
 * and, outside it, the agents' concurrency slots (`CONC#<agent>`), which a run takes and
 * gives back in the same transactions as its own writes.
 */

/** DynamoDB's limit on the number of items in one TransactWriteItems. */
export const MAX_TRANSACTION_ITEMS = 100;

export class DynamoRunRecords implements RunRecordStore {
  private readonly table: TableClient;
  private readonly state: RunStateReader;

  constructor(table: TableClient) {
    this.table = table;
    this.state = new RunStateReader(table);
  }

  async createRun(
    meta: RunMeta,
    options: { concurrencyLimit?: number } = {},
  ): Promise<{ created: boolean; meta: RunMeta }> {
    if (options.concurrencyLimit !== undefined)
      return this.createRunInSlot({ ...meta, concurrencyHeld: true }, options.concurrencyLimit);
    if (await this.table.putIfAbsent('createRun', this.runMetaItem(meta))) return { created: true, meta };
    // A repeated trigger: the run exists, and runs are never deleted, so this read finds it.
    const existing = await this.getRun(meta.runId);
    if (!existing) throw new Error(`run ${meta.runId} exists but its record could not be read`);
    return { created: false, meta: existing };
  }

  /** The run and one of its agent's slots, in one transaction. */
  private async createRunInSlot(meta: RunMeta, limit: number): Promise<{ created: boolean; meta: RunMeta }> {
    try {
      await this.table.transact([
        this.table.putNew(this.runMetaItem(meta)),
        {
          Update: {
            TableName: this.table.tableName,
            Key: concurrencyKey(meta.agent),
            UpdateExpression: 'ADD inFlight :one',
            ConditionExpression: 'attribute_not_exists(inFlight) OR inFlight < :limit',
            ExpressionAttributeValues: { ':one': 1, ':limit': limit },
          },
        },
      ]);
      return { created: true, meta };
    } catch (error) {
      const codes = cancellationCodesOf(error);
      if (!codes) throw this.table.fail('createRun', error);
      const [run, slot] = codes;
      if (run === 'ConditionalCheckFailed') {
        const existing = await this.getRun(meta.runId);
        if (existing) return { created: false, meta: existing };
      }
      if (slot === 'ConditionalCheckFailed') {
        throw new ConcurrencyLimitError(
          `agent "${meta.agent}" already has ${limit} run${limit === 1 ? '' : 's'} in flight (max_concurrent_runs: ${limit}); this trigger was refused`,
        );
      }
      throw this.table.fail('createRun', error);
    }
  }

  async getRun(runId: string): Promise<RunMeta | undefined> {
    const item = await this.table.getItem('getRun', runMetaKey(runId));
    return item ? metaOf(item) : undefined;
  }

  loadState(runId: string, options?: LoadOptions): Promise<RunState | undefined> {
    return this.state.loadState(runId, options);
  }

  /**
   * All of a step's writes in one transaction, guarded by the run's seq: either the step
   * moved the run from expectedSeq to expectedSeq + 1 with everything it wrote, or nothing
   * happened. A run that does not exist also answers `stale`.
   */
  async commit(runId: string, commit: StepCommit): Promise<'committed' | 'stale'> {
    if (commit.meta.runId !== runId) {
      throw new Error(`commit for run ${runId} carries the record of run ${commit.meta.runId}`);
    }
    if (commit.meta.seq !== commit.expectedSeq + 1) {
      throw new Error(
        `commit for run ${runId} must move seq from ${commit.expectedSeq} to ${commit.expectedSeq + 1}, but its record has seq ${commit.meta.seq}`,
      );
    }
    const items = this.commitItems(runId, commit);
    if (items.length > MAX_TRANSACTION_ITEMS) {
      throw new ValidationError(
        `a step of run ${runId} tried to commit ${items.length} items (1 run record, ${commit.context ? '1 snapshot, ' : ''}` +
          `${commit.messages?.length ?? 0} messages, ${commit.trace?.length ?? 0} trace events); ` +
          `DynamoDB allows at most ${MAX_TRANSACTION_ITEMS} in one transaction`,
      );
    }
    return this.transactCommit(runId, items);
  }

  async listTrace(runId: string): Promise<TraceEvent[]> {
    const items = await this.table.queryAll('listTrace', {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :step)',
      ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey, '#sk': KEY_ATTRIBUTES.sortKey },
      ExpressionAttributeValues: { ':pk': runPartition(runId), ':step': TRACE_SK_PREFIX },
      ConsistentRead: true,
    });
    // Zero-padded sort keys: key order is seq order.
    return items.map((item) => item.event as TraceEvent);
  }

  async listTracePage(runId: string, page: SeqPageQuery): Promise<TracePage> {
    const { items, nextAfterSeq } = await this.seqPage(
      'listTracePage',
      runId,
      TRACE_SK_PREFIX,
      page,
      (seq) => traceKey(runId, seq).sk,
    );
    return {
      events: items.map((item) => item.event as TraceEvent),
      ...(nextAfterSeq === undefined ? {} : { nextAfterSeq }),
    };
  }

  async listMessagesPage(runId: string, page: SeqPageQuery): Promise<MessagePage> {
    const { items, nextAfterSeq } = await this.seqPage(
      'listMessagesPage',
      runId,
      MESSAGE_SK_PREFIX,
      page,
      (seq) => messageKey(runId, seq).sk,
    );
    return {
      messages: items.map((item) => ({ seq: Number(item.seq), message: JSON.parse(item.body as string) as Message })),
      ...(nextAfterSeq === undefined ? {} : { nextAfterSeq }),
    };
  }

  listRuns(query: RunQuery): Promise<RunMeta[]> {
    return listRuns(this.table, query);
  }

  /**
   * `limit` items after `afterSeq` under one sort-key prefix. One more than asked is read,
   * so a page knows whether another follows without an empty last page.
   */
  private async seqPage(
    operation: string,
    runId: string,
    prefix: string,
    page: SeqPageQuery,
    skOf: (seq: number) => string,
  ): Promise<{ items: Item[]; nextAfterSeq?: number }> {
    if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > MAX_SEQ_PAGE) {
      throw new ValidationError(`limit must be a whole number from 1 to ${MAX_SEQ_PAGE}, got ${page.limit}`);
    }
    if (page.afterSeq !== undefined && (!Number.isInteger(page.afterSeq) || page.afterSeq < 0)) {
      throw new ValidationError(`afterSeq must be a whole number, 0 or more, got ${page.afterSeq}`);
    }
    const from = page.afterSeq === undefined ? prefix : skOf(page.afterSeq + 1);
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      try {
        const result = await this.table.db.send(
          new QueryCommand({
            TableName: this.table.tableName,
            KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
            ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey, '#sk': KEY_ATTRIBUTES.sortKey },
            ExpressionAttributeValues: { ':pk': runPartition(runId), ':from': from, ':to': `${prefix}\uffff` },
            ConsistentRead: true,
            Limit: page.limit + 1 - items.length,
            ExclusiveStartKey: startKey,
          }),
        );
        items.push(...(result.Items ?? []));
        startKey = result.LastEvaluatedKey;
      } catch (error) {
        throw this.table.fail(operation, error);
      }
    } while (startKey && items.length <= page.limit);
    if (items.length <= page.limit) return { items };
    const shown = items.slice(0, page.limit);
    return { items: shown, nextAfterSeq: Number(shown.at(-1)!.seq) };
  }

  private runMetaItem(meta: RunMeta): Item {
    const { input, ...record } = meta;
    // A run's record expires a retention after it ended,
    // never while it may still be waiting (an approval can take days).
    const ended = meta.status === 'finished' || meta.status === 'failed';
    return {
      ...(ended ? this.table.expiryAttribute() : {}),
      ...runMetaKey(meta.runId),
      ...runIndexKey(meta.agent, meta.createdAt, meta.runId),
      ...runStatusIndexKey(meta.status, meta.createdAt, meta.runId),
      seq: meta.seq,
      agent: meta.agent,
      // Input is whatever a trigger sent (a webhook body may have keys DynamoDB maps refuse): kept as text.
      meta: record,
      input: JSON.stringify(input ?? null),
    };
  }

  /**
   * The run record first: cancellation reasons come back in this order, and index 0 says "stale".
   * The step's rollups and the release of its concurrency slot ride in the same transaction.
   */
  private commitItems(runId: string, commit: StepCommit): TransactItem[] {
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.table.tableName,
          Item: this.runMetaItem(commit.meta),
          ConditionExpression: '#seq = :expected',
          ExpressionAttributeNames: { '#seq': 'seq' },
          ExpressionAttributeValues: { ':expected': commit.expectedSeq },
        },
      },
    ];
    if (commit.context) {
      items.push(this.table.putNew({ ...runContextKey(runId), body: JSON.stringify(commit.context) }));
    }
    for (const { seq, message } of commit.messages ?? []) {
      // Model output is untrusted (tool arguments may have any keys): kept as text.
      items.push(this.table.putNew({ ...messageKey(runId, seq), seq, body: JSON.stringify(message) }));
    }
    for (const rollup of commit.rollups ?? []) items.push(rollupUpdate(this.table.tableName, rollup));
    for (const { callId, recorded, at } of commit.sideEffects ?? []) {
      items.push({ Update: { TableName: this.table.tableName, ...completedCall(runId, callId, recorded, at) } });
    }
    if (commit.releaseConcurrency) {
      items.push({
        Update: {
          TableName: this.table.tableName,
          Key: concurrencyKey(commit.releaseConcurrency),
          UpdateExpression: 'ADD inFlight :minus',
          ExpressionAttributeValues: { ':minus': -1 },
        },
      });
    }
    const expiresAt = this.table.traceExpiry();
    for (const event of commit.trace ?? []) {
      const ttl = expiresAt === undefined ? {} : { [TABLE_KEY_SCHEMA.ttlAttribute]: expiresAt };
      items.push(this.table.putNew({ ...traceKey(runId, event.seq), seq: event.seq, event, ...ttl }));
    }
    return items;
  }

  private async transactCommit(runId: string, items: TransactItem[]): Promise<'committed' | 'stale'> {
    try {
      await this.table.transact(items);
      return 'committed';
    } catch (error) {
      if (errorName(error) !== 'TransactionCanceledException') throw this.table.fail('commit', error);
      const cancelled = error as TransactionCanceledException;
      const codes = cancellationCodes(cancelled);
      // The run record's seq moved on: another attempt of this step already committed.
      if (codes[0] === 'ConditionalCheckFailed') return 'stale';
      if (codes.some((code) => TRANSIENT_CANCELLATION_CODES.has(code))) {
        throw new TransientError(`DynamoDB commit of run ${runId} was cancelled (${codes.join(', ')}); try again`, {
          cause: error,
        });
      }
      const clash = codes.indexOf('ConditionalCheckFailed');
      if (clash > 0) {
        const sk = (items[clash]?.Put?.Item as Item | undefined)?.sk;
        throw new Error(
          `commit of run ${runId} would overwrite ${String(sk)}, which already exists: nothing was written`,
          { cause: error },
        );
      }
      throw new ValidationError(
        `DynamoDB rejected the commit of run ${runId} (${codes.join(', ')}): ${cancelled.message}`,
        { cause: error },
      );
    }
  }
}
