import type { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
  type NativeAttributeValue,
  type QueryCommandInput,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { RunContext } from '../../core/definitions/context.ts';
import type { Message } from '../../core/definitions/messages.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { ConcurrencyLimitError, ConfigurationError, TransientError, ValidationError } from '../../core/errors.ts';
import { systemClock, type Clock } from '../../core/ports/clock.ts';
import type { ApprovalDecision, ApprovalRecord, BudgetUsage, MessagePage, RecordedCall, ReserveOutcome, RollupDimension, RollupIncrement, RollupRow, RunQuery, RunState, RunStore, SeqPageQuery, SideEffectClaim, StepCommit, TracePage } from '../../core/ports/run-store.ts';
import { MAX_SEQ_PAGE } from '../../core/ports/run-store.ts';
import type { BudgetCharge, BudgetLine } from '../../core/budgets/reservation.ts';
import {
  KEY_ATTRIBUTES,
  RUN_CONTEXT_SK,
  RUN_META_SK,
  RUN_PARTITION_PREFIX,
  RUN_STATE_SK_RANGE,
  TRACE_SK_PREFIX,
  MESSAGE_SK_PREFIX,
  approvalKey,
  agentRunsPartition,
  messageKey,
  runContextKey,
  runIndexKey,
  runMetaKey,
  runPartition,
  sideEffectKey,
  alertKey,
  concurrencyKey,
  budgetKey,
  chargeKey,
  rollupKey,
  rollupIndexKey,
  rateWindowKey,
  traceKey,
  type TableKey,
} from './keys.ts';
import { queryPages, type Item } from './query-pages.ts';
import { TABLE_KEY_SCHEMA } from './table.ts';

/**
 * The RunStore port on one DynamoDB table (docs/architecture.md, Data: the one table).
 *
 * Items in a run's partition (`RUN#<id>`):
 *   META      the run record: `meta` (map) plus top-level `seq`, `status`, `agent` and the
 *             run-index keys; `seq` is the optimistic-concurrency guard of every commit
 *   CTX       the definition snapshot as a JSON string in `body` (it carries JSON schemas
 *             with arbitrary keys, which are safer as text than as nested maps)
 *   MSG#n     one conversation message as a JSON string in `body` (model output is untrusted)
 *   STEP#n    one trace event in `event` (map), with `expiresAt` when a retention is set
 */

export interface DynamoRunStoreOptions {
  /**
   * A plain client is wrapped in a DocumentClient here. A DocumentClient passed in is used
   * as it is, so it needs `removeUndefinedValues: true` (run records have optional fields).
   */
  client: DynamoDBDocumentClient | DynamoDBClient;
  tableName: string;
  /** Trace events expire this long after they are written (DynamoDB TTL); kept forever when unset. */
  traceTtlSeconds?: number;
  clock?: Clock;
}

/** DynamoDB's limit on the number of items in one TransactWriteItems. */
export const MAX_TRANSACTION_ITEMS = 100;
const DEFAULT_LIST_LIMIT = 50;

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export class DynamoRunStore implements RunStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly traceTtlSeconds: number | undefined;
  private readonly clock: Clock;

  constructor(options: DynamoRunStoreOptions) {
    this.db =
      options.client instanceof DynamoDBDocumentClient
        ? options.client
        : DynamoDBDocumentClient.from(options.client, {
            marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
          });
    this.tableName = options.tableName;
    this.traceTtlSeconds = options.traceTtlSeconds;
    this.clock = options.clock ?? systemClock;
  }

  async createRun(meta: RunMeta, options: { concurrencyLimit?: number } = {}): Promise<{ created: boolean; meta: RunMeta }> {
    if (options.concurrencyLimit !== undefined) return this.createRunInSlot({ ...meta, concurrencyHeld: true }, options.concurrencyLimit);
    if (await this.putIfAbsent('createRun', this.runMetaItem(meta))) return { created: true, meta };
    // A repeated trigger: the run exists, and runs are never deleted, so this read finds it.
    const existing = await this.getRun(meta.runId);
    if (!existing) throw new Error(`run ${meta.runId} exists but its record could not be read`);
    return { created: false, meta: existing };
  }

  /** The run and one of its agent's slots, in one transaction. */
  private async createRunInSlot(meta: RunMeta, limit: number): Promise<{ created: boolean; meta: RunMeta }> {
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: this.runMetaItem(meta),
                ConditionExpression: 'attribute_not_exists(#pk)',
                ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: concurrencyKey(meta.agent),
                UpdateExpression: 'ADD inFlight :one',
                ConditionExpression: 'attribute_not_exists(inFlight) OR inFlight < :limit',
                ExpressionAttributeValues: { ':one': 1, ':limit': limit },
              },
            },
          ],
        }),
      );
      return { created: true, meta };
    } catch (error) {
      if (errorName(error) !== 'TransactionCanceledException') throw this.storeError('createRun', error);
      const [run, slot] = cancellationCodes(error as TransactionCanceledException);
      if (run === 'ConditionalCheckFailed') {
        const existing = await this.getRun(meta.runId);
        if (existing) return { created: false, meta: existing };
      }
      if (slot === 'ConditionalCheckFailed') {
        throw new ConcurrencyLimitError(`agent "${meta.agent}" already has ${limit} run${limit === 1 ? '' : 's'} in flight (max_concurrent_runs: ${limit}); this trigger was refused`);
      }
      throw this.storeError('createRun', error);
    }
  }

  async getRun(runId: string): Promise<RunMeta | undefined> {
    const item = await this.getItem('getRun', runMetaKey(runId));
    return item ? metaOf(item) : undefined;
  }

  async loadState(runId: string, options: { lastMessages?: number } = {}): Promise<RunState | undefined> {
    const range = (from: string, to: string, extra: Partial<QueryCommandInput> = {}) =>
      this.queryAll('loadState', {
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey, '#sk': KEY_ATTRIBUTES.sortKey },
        ExpressionAttributeValues: { ':pk': runPartition(runId), ':from': from, ':to': to },
        ConsistentRead: true,
        ...extra,
      });
    // One consistent Query: CTX < META < MSG#… in key order, trace events (STEP#…) excluded.
    // With lastMessages, two small ones: CTX and META, and the newest messages read backwards.
    const items =
      options.lastMessages === undefined
        ? await range(RUN_STATE_SK_RANGE.from, RUN_STATE_SK_RANGE.to)
        : (
            await Promise.all([
              range(RUN_CONTEXT_SK, RUN_META_SK),
              options.lastMessages === 0 ? [] : range(MESSAGE_SK_PREFIX, RUN_STATE_SK_RANGE.to, { ScanIndexForward: false, Limit: options.lastMessages }).then((newest) => newest.reverse()),
            ])
          ).flat();
    let meta: RunMeta | undefined;
    let context: RunContext | undefined;
    const messages: Message[] = [];
    for (const item of items) {
      if (item.sk === RUN_META_SK) meta = metaOf(item);
      else if (item.sk === RUN_CONTEXT_SK) context = JSON.parse(item.body as string) as RunContext;
      else messages.push(JSON.parse(item.body as string) as Message); // MSG#…, already in seq order
    }
    if (!meta) return undefined;
    return context ? { meta, context, messages } : { meta, messages };
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
    return this.transactWrite(runId, items);
  }

  async listTrace(runId: string): Promise<TraceEvent[]> {
    const items = await this.queryAll('listTrace', {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :step)',
      ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey, '#sk': KEY_ATTRIBUTES.sortKey },
      ExpressionAttributeValues: { ':pk': runPartition(runId), ':step': TRACE_SK_PREFIX },
      ConsistentRead: true,
    });
    // Zero-padded sort keys: key order is seq order.
    return items.map((item) => item.event as TraceEvent);
  }

  async listTracePage(runId: string, page: SeqPageQuery): Promise<TracePage> {
    const { items, nextAfterSeq } = await this.seqPage('listTracePage', runId, TRACE_SK_PREFIX, page, (seq) => traceKey(runId, seq).sk);
    return { events: items.map((item) => item.event as TraceEvent), ...(nextAfterSeq === undefined ? {} : { nextAfterSeq }) };
  }

  async listMessagesPage(runId: string, page: SeqPageQuery): Promise<MessagePage> {
    const { items, nextAfterSeq } = await this.seqPage('listMessagesPage', runId, MESSAGE_SK_PREFIX, page, (seq) => messageKey(runId, seq).sk);
    return {
      messages: items.map((item) => ({ seq: Number(item.seq), message: JSON.parse(item.body as string) as Message })),
      ...(nextAfterSeq === undefined ? {} : { nextAfterSeq }),
    };
  }

  /**
   * `limit` items after `afterSeq` under one sort-key prefix. One more than asked is read,
   * so a page knows whether another follows without an empty last page.
   */
  private async seqPage(operation: string, runId: string, prefix: string, page: SeqPageQuery, skOf: (seq: number) => string): Promise<{ items: Item[]; nextAfterSeq?: number }> {
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
        const result = await this.db.send(
          new QueryCommand({
            TableName: this.tableName,
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
        throw this.storeError(operation, error);
      }
    } while (startKey && items.length <= page.limit);
    if (items.length <= page.limit) return { items };
    const shown = items.slice(0, page.limit);
    return { items: shown, nextAfterSeq: Number(shown.at(-1)!.seq) };
  }

  async listRuns(query: RunQuery): Promise<RunMeta[]> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError(`limit must be a whole number above 0, got ${limit}`);
    if (query.agent !== undefined) return this.queryRunsOfAgent(query.agent, limit, query);
    if (query.agents !== undefined) {
      // Each agent's newest `limit` (after the cursor), merged: the page is the newest `limit` of them all.
      const perAgent = await Promise.all([...new Set(query.agents)].map((agent) => this.queryRunsOfAgent(agent, limit, query)));
      return perAgent
        .flat()
        .map((run) => ({ run, position: listPosition(run) }))
        .sort((a, b) => (a.position < b.position ? 1 : a.position > b.position ? -1 : 0))
        .slice(0, limit)
        .map(({ run }) => run);
    }
    // The index's order everywhere: creation time, then run id (ISO times have a fixed length).
    const after = query.cursor ? listPosition(query.cursor) : undefined;
    const runs = (await this.scanRunRecords())
      .filter((run) => (query.status === undefined || run.status === query.status) && (query.role === undefined || run.role === query.role) && matchesRunFilters(run, query))
      .map((run) => ({ run, position: listPosition(run) }))
      .filter(({ position }) => after === undefined || position < after);
    runs.sort((a, b) => (a.position < b.position ? 1 : a.position > b.position ? -1 : 0));
    return runs.slice(0, limit).map(({ run }) => run);
  }

  async putApproval(record: ApprovalRecord): Promise<boolean> {
    // First write wins: a retried step must not reset a decision already taken.
    return this.putIfAbsent('putApproval', {
      ...approvalKey(record.approvalId),
      runId: record.runId,
      status: record.status,
      approval: record,
    });
  }

  async renewApprovalToken(approvalId: string, taskToken: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: approvalKey(approvalId),
          UpdateExpression: 'SET approval.taskToken = :token',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':token': taskToken, ':pending': 'pending' },
        }),
      );
    } catch (error) {
      // Decided (or gone) already: the decision stands, and no execution waits on a token.
      if (errorName(error) === 'ConditionalCheckFailedException') return;
      throw this.storeError('renewApprovalToken', error);
    }
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    const item = await this.getItem('getApproval', approvalKey(approvalId));
    return item?.approval as ApprovalRecord | undefined;
  }

  async settleApproval(approvalId: string, status: 'approved' | 'rejected' | 'expired', decision?: ApprovalDecision): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: approvalKey(approvalId),
          // One conditional write: of any number of concurrent deciders, exactly one finds it pending.
          UpdateExpression: decision ? 'SET #status = :to, #approval.#status = :to, #approval.#decision = :decision' : 'SET #status = :to, #approval.#status = :to',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status', '#approval': 'approval', ...(decision ? { '#decision': 'decision' } : {}) },
          ExpressionAttributeValues: { ':to': status, ':pending': 'pending', ...(decision ? { ':decision': decision } : {}) },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return false;
      throw this.storeError('settleApproval', error);
    }
  }

  async addApprover(approvalId: string, approver: string): Promise<string[] | undefined> {
    try {
      const result = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: approvalKey(approvalId),
          // Appends are serialised by DynamoDB: exactly one addition makes the list reach its size.
          UpdateExpression: 'SET #by = list_append(if_not_exists(#by, :empty), :one), #approval.#by = list_append(if_not_exists(#approval.#by, :empty), :one)',
          ConditionExpression: '#status = :pending AND (attribute_not_exists(#by) OR NOT contains(#by, :who))',
          ExpressionAttributeNames: { '#status': 'status', '#approval': 'approval', '#by': 'approvedBy' },
          ExpressionAttributeValues: { ':pending': 'pending', ':empty': [], ':one': [approver], ':who': approver },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return (result.Attributes?.approvedBy as string[] | undefined) ?? [approver];
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return undefined;
      throw this.storeError('addApprover', error);
    }
  }

  async claimApprovalAction(approvalId: string, action: 'reminder' | 'escalation', at: string, addApprovers: string[] = []): Promise<ApprovalRecord | undefined> {
    const adding = action === 'escalation' && addApprovers.length > 0;
    try {
      const result = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: approvalKey(approvalId),
          // One conditional write: of racing sweepers, exactly one finds it pending and not yet marked.
          UpdateExpression: adding ? 'SET #approval.#mark = :at, #approval.#approvers = list_append(#approval.#approvers, :add)' : 'SET #approval.#mark = :at',
          ConditionExpression: '#status = :pending AND attribute_not_exists(#approval.#mark)',
          ExpressionAttributeNames: { '#status': 'status', '#approval': 'approval', '#mark': action === 'reminder' ? 'reminderSentAt' : 'escalatedAt', ...(adding ? { '#approvers': 'approvers' } : {}) },
          ExpressionAttributeValues: { ':pending': 'pending', ':at': at, ...(adding ? { ':add': addApprovers } : {}) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return result.Attributes?.approval as ApprovalRecord | undefined;
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return undefined;
      throw this.storeError('claimApprovalAction', error);
    }
  }

  async takeRateToken(subject: string, windowStart: string, limit: number, expiresAt: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: rateWindowKey(subject, windowStart),
          // One conditional update: concurrent callers can never push the count past the limit.
          UpdateExpression: 'ADD #count :one SET #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
          ExpressionAttributeNames: { '#count': 'count', '#ttl': TABLE_KEY_SCHEMA.ttlAttribute },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': expiresAt },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return false;
      throw this.storeError('takeRateToken', error);
    }
  }

  async reserveBudget(charge: BudgetCharge): Promise<ReserveOutcome> {
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: { ...chargeKey(charge.chargeId), runId: charge.runId, status: 'reserved', at: charge.at, lines: JSON.stringify(charge.lines) },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey },
        },
      },
      ...charge.lines.map((line) => this.reserveUpdate(line)),
    ];
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
      return { ok: true };
    } catch (error) {
      if (errorName(error) !== 'TransactionCanceledException') throw this.storeError('reserveBudget', error);
      const codes = cancellationCodes(error as TransactionCanceledException);
      // The ledger row exists: this charge was reserved already (a retry), nothing more to do.
      if (codes[0] === 'ConditionalCheckFailed') return { ok: true };
      const failed = codes.findIndex((code, index) => index > 0 && code === 'ConditionalCheckFailed');
      if (failed < 0) throw this.storeError('reserveBudget', error);
      const line = charge.lines[failed - 1]!;
      const usage = await this.getBudgetUsage(line.scope, line.key, line.periodKey);
      return { ok: false, line, ...usage };
    }
  }

  async settleBudget(charge: BudgetCharge, actual: { micros: number; tokens: number }): Promise<void> {
    const items: TransactItem[] = [
      {
        Update: {
          TableName: this.tableName,
          Key: chargeKey(charge.chargeId),
          UpdateExpression: 'SET #status = :settled, actualMicros = :micros, actualTokens = :tokens',
          ConditionExpression: '#status = :reserved',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':settled': 'settled', ':reserved': 'reserved', ':micros': actual.micros, ':tokens': actual.tokens },
        },
      },
      ...charge.lines.map((line) => ({
        Update: {
          TableName: this.tableName,
          Key: budgetKey(line.scope, line.key, line.periodKey),
          // The reservation is released and the actual spend takes its place, in one step.
          UpdateExpression: 'ADD usedMicros :deltaMicros, usedTokens :deltaTokens, spentMicros :micros, spentTokens :tokens, reservedMicros :releaseMicros, reservedTokens :releaseTokens',
          ExpressionAttributeValues: {
            ':deltaMicros': actual.micros - line.reserveMicros,
            ':deltaTokens': actual.tokens - line.reserveTokens,
            ':micros': actual.micros,
            ':tokens': actual.tokens,
            ':releaseMicros': -line.reserveMicros,
            ':releaseTokens': -line.reserveTokens,
          },
        },
      })),
    ];
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      // Settled already (a retry): the ledger's condition failed and nothing changed.
      if (errorName(error) === 'TransactionCanceledException' && cancellationCodes(error as TransactionCanceledException)[0] === 'ConditionalCheckFailed') return;
      throw this.storeError('settleBudget', error);
    }
  }

  async releaseBudget(charge: BudgetCharge): Promise<void> {
    const items: TransactItem[] = [
      {
        Delete: {
          TableName: this.tableName,
          Key: chargeKey(charge.chargeId),
          // Only a reservation is given back: a settled charge is spend, and it stays.
          ConditionExpression: '#status = :reserved',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':reserved': 'reserved' },
        },
      },
      ...charge.lines.map((line) => ({
        Update: {
          TableName: this.tableName,
          Key: budgetKey(line.scope, line.key, line.periodKey),
          UpdateExpression: 'ADD usedMicros :releaseMicros, usedTokens :releaseTokens, reservedMicros :releaseMicros, reservedTokens :releaseTokens',
          ExpressionAttributeValues: { ':releaseMicros': -line.reserveMicros, ':releaseTokens': -line.reserveTokens },
        },
      })),
    ];
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      // Released already (a retry), never reserved, or settled: nothing to give back.
      if (errorName(error) === 'TransactionCanceledException' && cancellationCodes(error as TransactionCanceledException)[0] === 'ConditionalCheckFailed') return;
      throw this.storeError('releaseBudget', error);
    }
  }

  async getBudgetUsage(scope: string, key: string, periodKey: string): Promise<BudgetUsage> {
    const item = await this.getItem('getBudgetUsage', budgetKey(scope, key, periodKey));
    const number = (value: unknown) => (typeof value === 'number' ? value : 0);
    return { usedMicros: number(item?.usedMicros), usedTokens: number(item?.usedTokens), spentMicros: number(item?.spentMicros), spentTokens: number(item?.spentTokens) };
  }

  async claimAlert(budget: string, periodKey: string, threshold: number, at: string): Promise<boolean> {
    return this.putIfAbsent('claimAlert', { ...alertKey(budget, periodKey, threshold), budget, periodKey, threshold, at });
  }

  async listRollups(dimension: RollupDimension, fromDate: string, toDate: string): Promise<RollupRow[]> {
    const items = await this.queryAll('listRollups', {
      IndexName: KEY_ATTRIBUTES.gsi1Name,
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.gsi1PartitionKey, '#sk': KEY_ATTRIBUTES.gsi1SortKey },
      ExpressionAttributeValues: { ':pk': `ROLLUP#${dimension}`, ':from': fromDate, ':to': `${toDate}#\uffff` },
    });
    const number = (value: unknown) => (typeof value === 'number' ? value : 0);
    return items.map((item) => ({
      dimension,
      key: String(item.key),
      date: String(item.date),
      costMicros: number(item.costMicros),
      checkerCostMicros: number(item.checkerCostMicros),
      inputTokens: number(item.inputTokens),
      outputTokens: number(item.outputTokens),
      calls: number(item.calls),
    }));
  }

  /** ADD to a budget's counters, but only while what is used plus this charge stays under each limit. */
  private reserveUpdate(line: BudgetLine): TransactItem {
    const conditions: string[] = [];
    const values: Record<string, NativeAttributeValue> = { ':micros': line.reserveMicros, ':tokens': line.reserveTokens, ':name': line.name };
    // Condition expressions cannot add: "used + this ≤ limit" is written "used ≤ limit − this".
    if (line.limitMicros !== undefined) {
      conditions.push('(attribute_not_exists(usedMicros) OR usedMicros <= :maxMicros)');
      values[':maxMicros'] = line.limitMicros - line.reserveMicros;
    }
    if (line.limitTokens !== undefined) {
      conditions.push('(attribute_not_exists(usedTokens) OR usedTokens <= :maxTokens)');
      values[':maxTokens'] = line.limitTokens - line.reserveTokens;
    }
    return {
      Update: {
        TableName: this.tableName,
        Key: budgetKey(line.scope, line.key, line.periodKey),
        UpdateExpression: 'ADD usedMicros :micros, usedTokens :tokens, reservedMicros :micros, reservedTokens :tokens SET budgetName = :name',
        ...(conditions.length > 0 ? { ConditionExpression: conditions.join(' AND ') } : {}),
        ExpressionAttributeValues: values,
      },
    };
  }

  private rollupUpdate(rollup: RollupIncrement): TransactItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: rollupKey(rollup.dimension, rollup.key, rollup.date),
        UpdateExpression:
          'ADD costMicros :cost, checkerCostMicros :checker, inputTokens :input, outputTokens :output, calls :calls SET #key = :key, #date = :date, #gpk = :gpk, #gsk = :gsk',
        ExpressionAttributeNames: { '#key': 'key', '#date': 'date', '#gpk': KEY_ATTRIBUTES.gsi1PartitionKey, '#gsk': KEY_ATTRIBUTES.gsi1SortKey },
        ExpressionAttributeValues: {
          ':cost': rollup.costMicros,
          ':checker': rollup.role === 'checker' ? rollup.costMicros : 0,
          ':input': rollup.inputTokens,
          ':output': rollup.outputTokens,
          ':calls': rollup.calls,
          ':key': rollup.key,
          ':date': rollup.date,
          ':gpk': rollupIndexKey(rollup.dimension, rollup.date, rollup.key).gsi1pk,
          ':gsk': rollupIndexKey(rollup.dimension, rollup.date, rollup.key).gsi1sk,
        },
      },
    };
  }

  async claimSideEffect(runId: string, callId: string, tool: string, at: string): Promise<SideEffectClaim> {
    const key = sideEffectKey(runId, callId);
    const expiry = this.traceExpiry();
    const claimed = await this.putIfAbsent('claimSideEffect', {
      ...key,
      runId,
      callId,
      tool,
      status: 'started',
      startedAt: at,
      ...(expiry === undefined ? {} : { [TABLE_KEY_SCHEMA.ttlAttribute]: expiry }),
    });
    if (claimed) return { state: 'claimed' };
    const existing = await this.getItem('claimSideEffect', key);
    if (existing?.status === 'completed' && typeof existing.recorded === 'string') {
      return { state: 'completed', recorded: JSON.parse(existing.recorded) as RecordedCall };
    }
    return { state: 'in_doubt', startedAt: String(existing?.startedAt ?? 'unknown') };
  }

  async completeSideEffect(runId: string, callId: string, recorded: RecordedCall, at: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: sideEffectKey(runId, callId),
          UpdateExpression: 'SET #status = :completed, recorded = :recorded, completedAt = :at',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#status': 'status', '#pk': KEY_ATTRIBUTES.partitionKey },
          // Results are untrusted text with arbitrary structure: kept as JSON text.
          ExpressionAttributeValues: { ':completed': 'completed', ':recorded': JSON.stringify(recorded), ':at': at },
        }),
      );
    } catch (error) {
      throw this.storeError('completeSideEffect', error);
    }
  }

  // Items.

  private runMetaItem(meta: RunMeta): Item {
    const { input, ...record } = meta;
    // A run's record expires a retention after it ended, never while it may still be waiting (an approval can take days).
    const expiry = meta.status === 'finished' || meta.status === 'failed' ? this.traceExpiry() : undefined;
    return {
      ...(expiry === undefined ? {} : { [TABLE_KEY_SCHEMA.ttlAttribute]: expiry }),
      ...runMetaKey(meta.runId),
      ...runIndexKey(meta.agent, meta.createdAt, meta.runId),
      seq: meta.seq,
      status: meta.status,
      agent: meta.agent,
      // Input is whatever a trigger sent (a webhook body may have keys DynamoDB maps refuse): kept as text.
      meta: record,
      input: JSON.stringify(input ?? null),
    };
  }

  /** The run record first: cancellation reasons come back in this order, and index 0 says "stale". */
  private commitItems(runId: string, commit: StepCommit): TransactItem[] {
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: this.runMetaItem(commit.meta),
          ConditionExpression: '#seq = :expected',
          ExpressionAttributeNames: { '#seq': 'seq' },
          ExpressionAttributeValues: { ':expected': commit.expectedSeq },
        },
      },
    ];
    if (commit.context) {
      items.push(this.putNew({ ...runContextKey(runId), body: JSON.stringify(commit.context) }));
    }
    for (const { seq, message } of commit.messages ?? []) {
      // Model output is untrusted (tool arguments may have any keys): kept as text.
      items.push(this.putNew({ ...messageKey(runId, seq), seq, body: JSON.stringify(message) }));
    }
    for (const rollup of commit.rollups ?? []) items.push(this.rollupUpdate(rollup));
    if (commit.releaseConcurrency) {
      items.push({
        Update: { TableName: this.tableName, Key: concurrencyKey(commit.releaseConcurrency), UpdateExpression: 'ADD inFlight :minus', ExpressionAttributeValues: { ':minus': -1 } },
      });
    }
    const expiresAt = this.traceExpiry();
    for (const event of commit.trace ?? []) {
      const ttl = expiresAt === undefined ? {} : { [TABLE_KEY_SCHEMA.ttlAttribute]: expiresAt };
      items.push(this.putNew({ ...traceKey(runId, event.seq), seq: event.seq, event, ...ttl }));
    }
    return items;
  }

  /** History is append-only: an item that already exists means a numbering bug, never an overwrite. */
  private putNew(item: Item): TransactItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey },
      },
    };
  }

  private traceExpiry(): number | undefined {
    if (this.traceTtlSeconds === undefined) return undefined;
    return Math.floor(this.clock.now().getTime() / 1000) + this.traceTtlSeconds;
  }

  // DynamoDB calls: one helper each, every error translated by storeError().

  private async getItem(operation: string, key: TableKey): Promise<Item | undefined> {
    try {
      const result = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      return result.Item;
    } catch (error) {
      throw this.storeError(operation, error);
    }
  }

  /** Puts the item unless one with its key exists; returns whether it wrote. */
  private async putIfAbsent(operation: string, item: Item): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return false;
      throw this.storeError(operation, error);
    }
  }

  /** Every page of a Query: one page holds at most 1 MB. */
  private queryAll(operation: string, input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    return queryPages(this.db, this.tableName, input, (error) => this.storeError(operation, error));
  }

  /**
   * The run index, newest first, until `limit` runs. Limit counts items read, before the
   * filter, so keep paging; it also means a page never returns more than `limit` runs.
   */
  private async queryRunsOfAgent(agent: string, limit: number, query: Omit<RunQuery, 'agent' | 'agents' | 'limit'>): Promise<RunMeta[]> {
    const names: Record<string, string> = { '#gpk': TABLE_KEY_SCHEMA.gsi1.partitionKey };
    const values: Record<string, NativeAttributeValue> = { ':agent': agentRunsPartition(agent) };
    let keyCondition = '#gpk = :agent';
    if (query.cursor) {
      keyCondition += ' AND #gsk < :after';
      names['#gsk'] = TABLE_KEY_SCHEMA.gsi1.sortKey;
      values[':after'] = runIndexKey(agent, query.cursor.createdAt, query.cursor.runId).gsi1sk;
    }
    const filters: string[] = [];
    if (query.status !== undefined) {
      filters.push('#status = :status');
      names['#status'] = 'status';
      values[':status'] = query.status;
    }
    if (query.role !== undefined) {
      filters.push('#meta.#role = :role');
      names['#meta'] = 'meta';
      names['#role'] = 'role';
      values[':role'] = query.role;
    }
    if (query.stopReason !== undefined) {
      filters.push('#meta.#stopReason = :stopReason');
      names['#meta'] = 'meta';
      names['#stopReason'] = 'stopReason';
      values[':stopReason'] = query.stopReason;
    }
    if (query.triggerKind !== undefined) {
      filters.push('#meta.#trigger.#kind = :triggerKind');
      names['#meta'] = 'meta';
      names['#trigger'] = 'trigger';
      names['#kind'] = 'kind';
      values[':triggerKind'] = query.triggerKind;
    }
    if (query.createdFrom !== undefined) {
      filters.push('#meta.#createdAt >= :createdFrom');
      names['#meta'] = 'meta';
      names['#createdAt'] = 'createdAt';
      values[':createdFrom'] = query.createdFrom;
    }
    if (query.createdBefore !== undefined) {
      filters.push('#meta.#createdAt < :createdBefore');
      names['#meta'] = 'meta';
      names['#createdAt'] = 'createdAt';
      values[':createdBefore'] = query.createdBefore;
    }
    const runs: RunMeta[] = [];
    let startKey: Item | undefined;
    do {
      try {
        const page = await this.db.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: TABLE_KEY_SCHEMA.gsi1.indexName,
            KeyConditionExpression: keyCondition,
            FilterExpression: filters.length > 0 ? filters.join(' AND ') : undefined,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ScanIndexForward: false,
            Limit: limit - runs.length,
            ExclusiveStartKey: startKey,
          }),
        );
        runs.push(...(page.Items ?? []).map(metaOf));
        startKey = page.LastEvaluatedKey;
      } catch (error) {
        throw this.storeError('listRuns', error);
      }
    } while (startKey && runs.length < limit);
    return runs;
  }

  /**
   * Every run record in the table. A Scan reads the whole table (trace events included),
   * so its cost grows with the table: fine for the local host and small deployments.
   * Listing across agents at scale wants its own index partition (e.g. by day).
   */
  private async scanRunRecords(): Promise<RunMeta[]> {
    const runs: RunMeta[] = [];
    let startKey: Item | undefined;
    do {
      try {
        const page = await this.db.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: '#sk = :meta AND begins_with(#pk, :run)',
            ProjectionExpression: '#meta',
            ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey, '#sk': KEY_ATTRIBUTES.sortKey, '#meta': 'meta' },
            ExpressionAttributeValues: { ':meta': RUN_META_SK, ':run': RUN_PARTITION_PREFIX },
            ExclusiveStartKey: startKey,
          }),
        );
        runs.push(...(page.Items ?? []).map(metaOf));
        startKey = page.LastEvaluatedKey;
      } catch (error) {
        throw this.storeError('listRuns', error);
      }
    } while (startKey);
    return runs;
  }

  private async transactWrite(runId: string, items: TransactItem[]): Promise<'committed' | 'stale'> {
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
      return 'committed';
    } catch (error) {
      // By name, not instanceof: a second copy of the SDK in node_modules has its own classes.
      if (errorName(error) !== 'TransactionCanceledException') throw this.storeError('commit', error);
      const cancelled = error as TransactionCanceledException;
      const codes = cancellationCodes(cancelled);
      // The run record's seq moved on: another attempt of this step already committed.
      if (codes[0] === 'ConditionalCheckFailed') return 'stale';
      if (codes.some((code) => TRANSIENT_CANCELLATION_CODES.has(code))) {
        throw new TransientError(`DynamoDB commit of run ${runId} was cancelled (${codes.join(', ')}); try again`, {
          cause: error,
        });
      }
      const clash = codes.findIndex((code) => code === 'ConditionalCheckFailed');
      if (clash > 0) {
        const sk = (items[clash]?.Put?.Item as Item | undefined)?.sk;
        throw new Error(`commit of run ${runId} would overwrite ${String(sk)}, which already exists: nothing was written`, {
          cause: error,
        });
      }
      throw new ValidationError(`DynamoDB rejected the commit of run ${runId} (${codes.join(', ')}): ${cancelled.message}`, {
        cause: error,
      });
    }
  }

  /**
   * What the state machine should do with a failed call: retry what may pass next time,
   * fail the run on everything else. Messages name the operation and the error, never data.
   */
  private storeError(operation: string, error: unknown): Error {
    const name = errorName(error);
    const message = error instanceof Error ? error.message : String(error);
    if (isTransient(error)) {
      return new TransientError(`DynamoDB ${operation} failed with ${name}: ${message}`, { cause: error });
    }
    if (name === 'ResourceNotFoundException') {
      return new ConfigurationError(`DynamoDB table ${this.tableName} does not exist (${operation})`, { cause: error });
    }
    if (name === 'ValidationException') {
      return new ValidationError(`DynamoDB rejected ${operation}: ${message}`, { cause: error });
    }
    return error instanceof Error ? error : new Error(`DynamoDB ${operation} failed: ${message}`);
  }
}

const TRANSIENT_ERROR_NAMES = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'TransactionInProgressException',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
]);
const TRANSIENT_CANCELLATION_CODES = new Set(['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded']);
const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

/** Shared with the other adapters on this table (skill-store.ts). */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** Shared with the other adapters on this table (skill-store.ts). */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const details = error as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const status = details.$metadata?.httpStatusCode;
  return (
    TRANSIENT_ERROR_NAMES.has(error.name) ||
    (status !== undefined && status >= 500) ||
    (details.code !== undefined && NETWORK_ERROR_CODES.has(details.code))
  );
}

/**
 * One code per transaction item, in request order. The SDK parses `CancellationReasons`;
 * the message (`… reasons [ConditionalCheckFailed, None]`) is the fallback.
 */
function cancellationCodes(error: TransactionCanceledException): string[] {
  if (error.CancellationReasons?.length) return error.CancellationReasons.map((reason) => reason.Code ?? 'None');
  const listed = /\[([^\]]*)\]\s*$/.exec(error.message)?.[1];
  return listed ? listed.split(',').map((code) => code.trim()) : [];
}

/** A run's place in listings: the run index's sort key, which orders by creation time, then run id. */
function listPosition(run: { createdAt: string; runId: string }): string {
  return runIndexKey('-', run.createdAt, run.runId).gsi1sk;
}

/** The filters beyond status and role, for listings that read run records directly. */
function matchesRunFilters(run: RunMeta, query: RunQuery): boolean {
  return (
    (query.stopReason === undefined || run.stopReason === query.stopReason) &&
    (query.triggerKind === undefined || run.trigger?.kind === query.triggerKind) &&
    (query.createdFrom === undefined || run.createdAt >= query.createdFrom) &&
    (query.createdBefore === undefined || run.createdAt < query.createdBefore)
  );
}

/** The run record with its input, which is stored as text beside it. */
function metaOf(item: Item): RunMeta {
  const meta = item.meta as RunMeta;
  return { ...meta, input: typeof item.input === 'string' ? JSON.parse(item.input) : meta.input };
}
