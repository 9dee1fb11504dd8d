import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { runMetaKey } from '../../adapters/dynamodb/keys.ts';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { ValidationError } from '../../core/errors.ts';
import { newRunMeta } from '../../core/run/request-run.ts';
import { testClient, testTable, type TestTable } from '../support/dynamodb.ts';
import { seedRun } from '../support/seeded-runs.ts';

/** Reading long runs a page at a time, listing runs by filters, and the run record's retention. */

let table: TestTable;

beforeAll(async () => {
  table = await testTable();
  await seedRun(table.store, { runId: 'long-run', agent: 'pager', steps: 2_345 });
});

describe('trace and conversation pages', () => {
  it('reads thousands of steps a page at a time, in seq order, with nothing missed or repeated', async () => {
    const seqs: number[] = [];
    const pages: number[] = [];
    let after: number | undefined;
    do {
      const page = await table.store.listTracePage('long-run', { afterSeq: after, limit: 1000 });
      pages.push(page.events.length);
      seqs.push(...page.events.map((event) => event.seq));
      after = page.nextAfterSeq;
    } while (after !== undefined);
    expect(pages).toEqual([1000, 1000, 345]);
    expect(seqs).toEqual(Array.from({ length: 2_345 }, (_, i) => i));
  });

  it('says there is no next page when a page ends exactly at the last event', async () => {
    const page = await table.store.listTracePage('long-run', { afterSeq: 2_344 - 5, limit: 5 });
    expect(page.events.map((event) => event.seq)).toEqual([2_340, 2_341, 2_342, 2_343, 2_344]);
    expect(page.nextAfterSeq).toBeUndefined();
    expect(await table.store.listTracePage('long-run', { afterSeq: 2_344, limit: 5 })).toEqual({ events: [] });
    expect(await table.store.listTracePage('no-such-run', { limit: 5 })).toEqual({ events: [] });
  });

  it('pages the conversation the same way, without the run record or the trace', async () => {
    const first = await table.store.listMessagesPage('long-run', { limit: 3 });
    expect(first.messages.map((entry) => entry.seq)).toEqual([0, 1, 2]);
    expect(first.messages[0]!.message.role).toBe('assistant');
    expect(first.nextAfterSeq).toBe(2);
    const next = await table.store.listMessagesPage('long-run', { afterSeq: first.nextAfterSeq, limit: 2 });
    expect(next.messages.map((entry) => entry.seq)).toEqual([3, 4]);
  });

  it('refuses a page size or position it cannot serve, and reads nothing', async () => {
    for (const limit of [0, 1001, 2.5]) {
      await expect(table.store.listTracePage('long-run', { limit })).rejects.toThrow(ValidationError);
    }
    await expect(table.store.listTracePage('long-run', { limit: 10, afterSeq: -1 })).rejects.toThrow(
      /afterSeq must be a whole number/,
    );
    await expect(table.store.listMessagesPage('long-run', { limit: 0 })).rejects.toThrow(
      /limit must be a whole number from 1 to 1000/,
    );
  });
});

describe('run listings by stop reason, trigger and time', () => {
  it('filters the same way with and without an agent (index query and scan)', async () => {
    const filtered = await testTable();
    await seedRun(filtered.store, {
      runId: 'f-1',
      agent: 'alpha',
      steps: 2,
      createdAt: '2026-02-01T10:00:00.000Z',
      stopReason: 'completed',
      trigger: { kind: 'schedule' },
    });
    await seedRun(filtered.store, {
      runId: 'f-2',
      agent: 'alpha',
      steps: 2,
      createdAt: '2026-02-02T10:00:00.000Z',
      stopReason: 'max_steps',
      trigger: { kind: 'api' },
    });
    await seedRun(filtered.store, {
      runId: 'f-3',
      agent: 'beta',
      steps: 2,
      createdAt: '2026-02-03T10:00:00.000Z',
      stopReason: 'max_steps',
      trigger: { kind: 'schedule' },
    });
    const ids = async (query: Parameters<DynamoRunStore['listRuns']>[0]) =>
      (await filtered.store.listRuns(query)).map((run) => run.runId);
    for (const agent of [undefined, 'alpha']) {
      const mine = (list: string[]) => list.filter((id) => agent === undefined || id !== 'f-3');
      expect(await ids({ agent, stopReason: 'max_steps' })).toEqual(mine(['f-3', 'f-2']));
      expect(await ids({ agent, triggerKind: 'schedule' })).toEqual(mine(['f-3', 'f-1']));
      expect(await ids({ agent, createdFrom: '2026-02-02T00:00:00.000Z' })).toEqual(mine(['f-3', 'f-2']));
      expect(await ids({ agent, createdBefore: '2026-02-02T10:00:00.000Z' })).toEqual(['f-1']);
      expect(await ids({ agent, stopReason: 'max_steps', triggerKind: 'schedule' })).toEqual(mine(['f-3']));
    }
    // Several agents' index partitions, merged newest first, paged by the same cursor.
    expect(await ids({ agents: ['alpha', 'beta'] })).toEqual(['f-3', 'f-2', 'f-1']);
    expect(await ids({ agents: ['alpha', 'beta'], limit: 2 })).toEqual(['f-3', 'f-2']);
    expect(
      await ids({
        agents: ['alpha', 'beta'],
        limit: 2,
        cursor: { createdAt: '2026-02-02T10:00:00.000Z', runId: 'f-2' },
      }),
    ).toEqual(['f-1']);
    expect(await ids({ agents: ['beta'], triggerKind: 'api' })).toEqual([]);
    expect(await ids({ agents: [] })).toEqual([]);
  });
});

describe('retention', () => {
  it('sets expiresAt on the run record once the run has ended, never while it may still wait', async () => {
    const now = new Date('2026-03-01T00:00:00.000Z');
    const store = new DynamoRunStore({
      client: table.client,
      tableName: table.tableName,
      traceTtlSeconds: 86_400,
      clock: { now: () => now },
    });
    // Its own client: a DocumentClient shares (and adds to) the middleware of the client it wraps.
    const doc = DynamoDBDocumentClient.from(testClient());
    const expiresAt = async (runId: string) =>
      (await doc.send(new GetCommand({ TableName: table.tableName, Key: runMetaKey(runId), ConsistentRead: true })))
        .Item?.expiresAt;
    const queued = newRunMeta({
      runId: 'ttl-queued',
      agent: 'pager',
      principal: 'local:tester',
      trigger: { kind: 'cli' },
      input: {},
      createdAt: now.toISOString(),
    });
    await store.createRun(queued);
    expect(await expiresAt('ttl-queued')).toBeUndefined();
    const running = { ...queued, seq: 1, status: 'running' as const, startedAt: now.toISOString() };
    expect(await store.commit('ttl-queued', { expectedSeq: 0, meta: running })).toBe('committed');
    expect(await expiresAt('ttl-queued')).toBeUndefined();
    expect(
      await store.commit('ttl-queued', {
        expectedSeq: 1,
        meta: { ...running, seq: 2, status: 'finished', stopReason: 'completed', endedAt: now.toISOString() },
      }),
    ).toBe('committed');
    expect(await expiresAt('ttl-queued')).toBe(now.getTime() / 1000 + 86_400);
    // Without a retention, nothing expires.
    await seedRun(table.store, { runId: 'ttl-none', agent: 'pager', steps: 2 });
    expect(await expiresAt('ttl-none')).toBeUndefined();
  });
});
