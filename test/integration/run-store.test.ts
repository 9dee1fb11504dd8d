import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { messageKey, runPartition, traceKey } from '../../adapters/dynamodb/keys.ts';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import { ConfigurationError, TransientError, ValidationError } from '../../core/errors.ts';
import { testTable, type TestTable } from '../support/dynamodb.ts';
import { runStoreContract } from '../support/store-contract/index.ts';
import { context, runMeta, stepCommit, traceEvent, userMessage } from '../support/run-store-fixtures.ts';

// The ports' semantics, shared with the in-memory store (test/unit/memory-store.test.ts).
runStoreContract('DynamoRunStore on DynamoDB Local', async () => (await testTable()).store);

let table: TestTable;
let store: DynamoRunStore;

beforeAll(async () => {
  table = await testTable();
  store = table.store;
});

/** A run created and taken through StartRun: snapshot, first message, first trace event. */
async function startedRun(overrides: Partial<RunMeta> = {}): Promise<RunMeta> {
  const meta = runMeta(overrides);
  await store.createRun(meta);
  const commit = stepCommit(meta, { context, messages: [userMessage('triage acme/shop')], trace: 1 });
  expect(await store.commit(meta.runId, commit)).toBe('committed');
  return commit.meta;
}

/** What is stored in a run's partition, by item kind. */
async function countItems(runId: string): Promise<{ messages: number; trace: number; all: number }> {
  const doc = DynamoDBDocumentClient.from(table.client);
  const page = await doc.send(
    new QueryCommand({
      TableName: table.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': runPartition(runId) },
      ConsistentRead: true,
    }),
  );
  const sks = (page.Items ?? []).map((item) => String(item.sk));
  return {
    messages: sks.filter((sk) => sk.startsWith('MSG#')).length,
    trace: sks.filter((sk) => sk.startsWith('STEP#')).length,
    all: sks.length,
  };
}

describe('DynamoRunStore on DynamoDB Local: its items and its errors', () => {
  it('keeps a run in its own partition: record, snapshot, one item per message and per trace event', async () => {
    const started = await startedRun();
    const commit = stepCommit(started, { messages: [userMessage('a'), userMessage('b')], trace: 2 });
    expect(await store.commit(started.runId, commit)).toBe('committed');
    expect(await countItems(started.runId)).toEqual({ messages: 3, trace: 3, all: 8 }); // + META + CTX
  });

  it('writes no item of a stale, refused or clashing commit', async () => {
    const started = await startedRun();
    const before = await countItems(started.runId);
    expect(await store.commit(started.runId, stepCommit(runMeta({ runId: started.runId })))).toBe('stale');
    await expect(store.commit(started.runId, stepCommit(started, { trace: 100 }))).rejects.toBeInstanceOf(
      ValidationError,
    );
    const clashing = stepCommit(started, { messages: [userMessage('again')], trace: 1 });
    await expect(
      store.commit(started.runId, { ...clashing, messages: [{ seq: 1, message: userMessage('again') }] }),
    ).rejects.toThrow(/would overwrite/);
    expect(await countItems(started.runId)).toEqual(before);
    const never = runMeta();
    expect(await store.commit(never.runId, stepCommit(never, { messages: [userMessage('x')] }))).toBe('stale');
    expect(await countItems(never.runId)).toMatchObject({ all: 0 });
  });

  it('sets expiresAt on trace events when a retention is configured', async () => {
    const now = new Date('2026-01-05T08:00:00.000Z');
    const ttlStore = new DynamoRunStore({
      client: table.client,
      tableName: table.tableName,
      traceTtlSeconds: 3600,
      clock: { now: () => now },
    });
    const meta = runMeta();
    await ttlStore.createRun(meta);
    await ttlStore.commit(meta.runId, stepCommit(meta, { messages: [userMessage('hi')], trace: 1 }));

    const doc = DynamoDBDocumentClient.from(table.client);
    const get = (key: object) =>
      doc.send(new GetCommand({ TableName: table.tableName, Key: key, ConsistentRead: true }));
    expect((await get(traceKey(meta.runId, 1))).Item?.expiresAt).toBe(now.getTime() / 1000 + 3600);
    expect((await get(messageKey(meta.runId, 1))).Item?.expiresAt).toBeUndefined();
  });

  it('lists trace events in seq order across pages beyond 1 MB', async () => {
    const started = await startedRun();
    let meta = started;
    const detail = 'x'.repeat(60_000);
    // 3 commits × 10 events × 60 KB ≈ 1.8 MB: more than one Query page. Events are handed
    // over shuffled within each commit; the store returns them by seq.
    for (let i = 0; i < 3; i++) {
      const commit = stepCommit(meta, { trace: 10, traceDetail: detail });
      commit.trace = [...(commit.trace ?? [])].reverse();
      expect(await store.commit(meta.runId, commit)).toBe('committed');
      meta = commit.meta;
    }

    const trace = await store.listTrace(started.runId);
    expect(trace.map((event) => event.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    expect(trace.at(-1)).toEqual(traceEvent(started.runId, 31, detail));
    // The state query skips them all.
    expect((await store.loadState(started.runId))?.messages).toHaveLength(1);
  });

  it('loads a conversation larger than 1 MB, and its newest messages alone', async () => {
    const started = await startedRun();
    const big = Array.from({ length: 25 }, (_, i) => userMessage(`${i}:${'y'.repeat(60_000)}`));
    expect(await store.commit(started.runId, stepCommit(started, { messages: big }))).toBe('committed');

    const state = await store.loadState(started.runId);
    expect(state?.messages).toHaveLength(26);
    expect(state?.messages.at(-1)).toEqual(big.at(-1));
    expect(state?.context).toEqual(context);
    expect(await store.loadState(started.runId, { lastMessages: 2 })).toEqual({
      ...state,
      messages: state!.messages.slice(-2),
    });
  });

  it('lets exactly one of 50 racing commits at the same seq win', async () => {
    const started = await startedRun();
    const attempts = Array.from({ length: 50 }, (_, i) =>
      stepCommit(started, { messages: [userMessage(`attempt ${i}`)], trace: 1 }),
    );
    // As the state machine would: a transient failure (a transaction conflict) is retried until committed or stale.
    const commitRetrying = async (commit: ReturnType<typeof stepCommit>): Promise<'committed' | 'stale'> => {
      for (;;) {
        try {
          return await store.commit(started.runId, commit);
        } catch (error) {
          if (!(error instanceof TransientError)) throw error;
        }
      }
    };
    const outcomes = await Promise.all(attempts.map(commitRetrying));
    expect(outcomes.filter((o) => o === 'committed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'stale')).toHaveLength(49);
    expect(await countItems(started.runId)).toMatchObject({ messages: 2, trace: 2 });
  });

  it('reports a missing table as a ConfigurationError', async () => {
    const orphan = new DynamoRunStore({ client: table.client, tableName: 'looprail-no-such-table' });
    const error = await orphan.getRun('run-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain('looprail-no-such-table');
  });

  it('reports an unreachable endpoint as a TransientError, which the state machine retries', async () => {
    const unreachable = new DynamoRunStore({
      client: new DynamoDBClient({
        endpoint: 'http://127.0.0.1:9', // discard port: nothing listens
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 1,
      }),
      tableName: table.tableName,
    });
    const error = await unreachable.getRun('run-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).name).toBe('looprail.TransientError');
    expect((error as Error).message).toMatch(/getRun failed with/);
  });
});
