import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { messageKey, runPartition, traceKey } from '../../adapters/dynamodb/keys.ts';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import type { RunContext } from '../../core/definitions/context.ts';
import type { Message } from '../../core/definitions/messages.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { ConfigurationError, TransientError, ValidationError } from '../../core/errors.ts';
import { newRunMeta } from '../../core/run/start-run.ts';
import type { ApprovalRecord, StepCommit } from '../../core/ports/run-store.ts';
import { testTable, type TestTable } from '../support/dynamodb.ts';

let table: TestTable;
let store: DynamoRunStore;
let nextRun = 0;

beforeAll(async () => {
  table = await testTable();
  store = table.store;
});

function newRunId(): string {
  nextRun += 1;
  return `run-${String(nextRun).padStart(4, '0')}`;
}

function runMeta(overrides: Partial<RunMeta> = {}): RunMeta {
  return newRunMeta({
    runId: newRunId(),
    agent: 'morning-triage',
    principal: 'user:ops@example.com',
    trigger: { kind: 'cli' },
    input: { repo: 'acme/shop', labels: ['bug', 'p1'] },
    createdAt: '2026-01-05T08:00:00.000Z',
    ...overrides,
  });
}

function userMessage(text: string): Message {
  return { role: 'user', content: [{ type: 'text', text }] };
}

function traceEvent(runId: string, seq: number, detail?: string): TraceEvent {
  return {
    runId,
    seq,
    kind: 'model_call',
    role: 'maker',
    name: 'scripted',
    status: 'ok',
    startedAt: '2026-01-05T08:00:01.000Z',
    endedAt: '2026-01-05T08:00:02.000Z',
    latencyMs: 1000,
    inputTokens: 10,
    outputTokens: 5,
    cachedInputTokens: 0,
    costMicros: 42,
    ...(detail === undefined ? {} : { detail }),
  };
}

const context: RunContext = {
  systemPrompt: 'You triage issues.',
  tools: [
    {
      name: 'github__list_issues',
      server: 'github',
      tool: 'list_issues',
      description: 'List issues',
      // JSON schemas have keys DynamoDB maps dislike (empty, `$`-prefixed): stored as text.
      inputSchema: { type: 'object', properties: { '': { type: 'string' }, $ref: { type: 'string' } } },
      readOnly: true,
      destructive: false,
      requiresApproval: false,
    },
  ],
  view: {} as RunContext['view'],
};

/** The commit a step makes: the record moved on by one, with what it wrote. */
function stepCommit(
  meta: RunMeta,
  writes: { messages?: Message[]; trace?: number; context?: RunContext; traceDetail?: string } = {},
): StepCommit {
  const messages = (writes.messages ?? []).map((message, i) => ({ seq: meta.messageCount + i + 1, message }));
  const trace = Array.from({ length: writes.trace ?? 0 }, (_, i) =>
    traceEvent(meta.runId, meta.traceCount + i + 1, writes.traceDetail),
  );
  return {
    expectedSeq: meta.seq,
    meta: {
      ...meta,
      seq: meta.seq + 1,
      status: 'running',
      messageCount: meta.messageCount + messages.length,
      traceCount: meta.traceCount + trace.length,
    },
    messages,
    trace,
    ...(writes.context ? { context: writes.context } : {}),
  };
}

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

describe('DynamoRunStore on DynamoDB Local', () => {
  it('creates a run once: a repeated create returns the stored run', async () => {
    const meta = runMeta();
    expect(await store.createRun(meta)).toEqual({ created: true, meta });

    const again = await store.createRun({ ...meta, input: { repo: 'other/repo' }, principal: 'someone-else' });
    expect(again).toEqual({ created: false, meta });
    expect(await store.getRun(meta.runId)).toEqual(meta);
  });

  it('answers undefined for a run that does not exist', async () => {
    expect(await store.getRun('no-such-run')).toBeUndefined();
    expect(await store.loadState('no-such-run')).toBeUndefined();
    expect(await store.listTrace('no-such-run')).toEqual([]);
  });

  it('loads the record, the snapshot and the conversation in order, without trace events', async () => {
    const started = await startedRun();
    // Twelve more messages: seq 10 must sort after seq 9 (zero-padded keys).
    const texts = Array.from({ length: 12 }, (_, i) => `message ${i + 2}`);
    const next = stepCommit(started, { messages: texts.map(userMessage), trace: 3 });
    expect(await store.commit(started.runId, next)).toBe('committed');

    const state = await store.loadState(started.runId);
    expect(state?.meta).toEqual(next.meta);
    expect(state?.context).toEqual(context);
    expect(state?.messages.map((m) => (m.content[0] as { text: string }).text)).toEqual([
      'triage acme/shop',
      ...texts,
    ]);
    expect(await countItems(started.runId)).toMatchObject({ messages: 13, trace: 4 });
  });

  it('loads a run without a snapshot', async () => {
    const meta = runMeta();
    await store.createRun(meta);
    expect(await store.loadState(meta.runId)).toEqual({ meta, messages: [] });
  });

  it('applies a commit whole: record, messages and trace events together', async () => {
    const started = await startedRun();
    const commit = stepCommit(started, { messages: [userMessage('a'), userMessage('b')], trace: 2 });
    expect(await store.commit(started.runId, commit)).toBe('committed');

    expect(await store.getRun(started.runId)).toEqual(commit.meta);
    expect(await countItems(started.runId)).toEqual({ messages: 3, trace: 3, all: 8 }); // + META + CTX
    expect((await store.listTrace(started.runId)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('answers stale to a second commit at the same seq and writes nothing', async () => {
    const started = await startedRun();
    const first = stepCommit(started, { messages: [userMessage('first')], trace: 1 });
    const retry = stepCommit(started, { messages: [userMessage('retry'), userMessage('retry 2')], trace: 2 });
    expect(await store.commit(started.runId, first)).toBe('committed');
    const before = await countItems(started.runId);

    expect(await store.commit(started.runId, retry)).toBe('stale');
    expect(await countItems(started.runId)).toEqual(before);
    const state = await store.loadState(started.runId);
    expect(state?.meta).toEqual(first.meta);
    expect(state?.messages.at(-1)).toEqual(userMessage('first'));
  });

  it('answers stale to a commit for a run that was never created', async () => {
    const meta = runMeta();
    expect(await store.commit(meta.runId, stepCommit(meta, { messages: [userMessage('x')] }))).toBe('stale');
    expect(await countItems(meta.runId)).toMatchObject({ all: 0 });
  });

  it('refuses a commit of more than 100 items with a ValidationError and writes nothing', async () => {
    const started = await startedRun();
    const before = await countItems(started.runId);
    const tooBig = stepCommit(started, { trace: 100 }); // + the run record = 101 items

    const error = await store.commit(started.runId, tooBig).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/101 items .*100 trace events.*at most 100/);
    expect(await countItems(started.runId)).toEqual(before);
    expect(await store.getRun(started.runId)).toEqual(started);
  });

  it('commits exactly 100 items', async () => {
    const started = await startedRun();
    expect(await store.commit(started.runId, stepCommit(started, { trace: 99 }))).toBe('committed');
    expect(await countItems(started.runId)).toMatchObject({ trace: 100 });
  });

  it('refuses a record whose seq does not follow expectedSeq', async () => {
    const started = await startedRun();
    const commit = stepCommit(started);
    await expect(store.commit(started.runId, { ...commit, meta: { ...commit.meta, seq: 5 } })).rejects.toThrow(
      /must move seq from 1 to 2, but its record has seq 5/,
    );
  });

  it('never overwrites history: a reused message seq fails the whole commit', async () => {
    const started = await startedRun(); // message 1 exists
    const commit = stepCommit(started, { messages: [userMessage('again')], trace: 1 });
    const clashing: StepCommit = { ...commit, messages: [{ seq: 1, message: userMessage('again') }] };

    await expect(store.commit(started.runId, clashing)).rejects.toThrow(/would overwrite MSG#000000001/);
    expect(await store.getRun(started.runId)).toEqual(started);
    expect(await countItems(started.runId)).toMatchObject({ messages: 1, trace: 1 });
  });

  it('stores untrusted keys as text: tool arguments and run input with keys DynamoDB maps refuse', async () => {
    const meta = runMeta({ input: { '': 'empty key', nested: { '': 1 } } });
    await store.createRun(meta);
    const odd: Message = { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'x__y', arguments: { '': 1 } }] };
    expect(await store.commit(meta.runId, stepCommit(meta, { messages: [odd] }))).toBe('committed');
    const state = await store.loadState(meta.runId);
    expect(state?.messages).toEqual([odd]);
    expect(state?.meta.input).toEqual({ '': 'empty key', nested: { '': 1 } });
  });

  it('turns data DynamoDB cannot store into a ValidationError and writes nothing', async () => {
    const started = await startedRun();
    // Over DynamoDB's 400 KB item limit.
    const huge: Message = { role: 'tool', content: [{ type: 'tool_result', callId: 'c1', name: 'x__y', content: 'x'.repeat(500_000), isError: false }] };
    const error = await store.commit(started.runId, stepCommit(started, { messages: [huge] })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(await store.getRun(started.runId)).toEqual(started);
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
    const get = (key: object) => doc.send(new GetCommand({ TableName: table.tableName, Key: key, ConsistentRead: true }));
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

  it('loads a conversation larger than 1 MB', async () => {
    const started = await startedRun();
    const big = Array.from({ length: 25 }, (_, i) => userMessage(`${i}:${'y'.repeat(60_000)}`));
    expect(await store.commit(started.runId, stepCommit(started, { messages: big }))).toBe('committed');

    const state = await store.loadState(started.runId);
    expect(state?.messages).toHaveLength(26);
    expect(state?.messages.at(-1)).toEqual(big.at(-1));
    expect(state?.context).toEqual(context);
  });

  it('loads only the newest messages when asked, in order, with the record and snapshot', async () => {
    const started = await startedRun();
    const later = Array.from({ length: 25 }, (_, i) => userMessage(`${i}:${'z'.repeat(60_000)}`));
    expect(await store.commit(started.runId, stepCommit(started, { messages: later }))).toBe('committed');

    const full = await store.loadState(started.runId);
    const last = await store.loadState(started.runId, { lastMessages: 2 });
    expect(last).toEqual({ ...full, messages: full!.messages.slice(-2) });
    expect((await store.loadState(started.runId, { lastMessages: 0 }))).toEqual({ ...full, messages: [] });
    expect((await store.loadState(started.runId, { lastMessages: 100 }))?.messages).toEqual(full!.messages);
    expect(await store.loadState('no-such-run', { lastMessages: 1 })).toBeUndefined();
  });

  it('lists runs by agent, newest first', async () => {
    const agent = 'listing-agent';
    const times = ['2026-02-03T10:00:00.000Z', '2026-02-01T10:00:00.000Z', '2026-02-04T10:00:00.000Z', '2026-02-02T10:00:00.000Z'];
    const runs = times.map((createdAt) => runMeta({ agent, createdAt }));
    for (const run of runs) await store.createRun(run);
    await store.createRun(runMeta({ agent: 'other-agent', createdAt: '2026-03-01T00:00:00.000Z' }));

    const listed = await store.listRuns({ agent });
    expect(listed.map((run) => run.createdAt)).toEqual([...times].sort().reverse());
    expect(listed[0]).toEqual(runs[2]);
    expect((await store.listRuns({ agent, limit: 2 })).map((run) => run.createdAt)).toEqual([
      '2026-02-04T10:00:00.000Z',
      '2026-02-03T10:00:00.000Z',
    ]);
    expect(await store.listRuns({ agent: 'nobody' })).toEqual([]);
  });

  it('lists runs of every agent, newest first, and only runs', async () => {
    const isolated = await testTable();
    const runs = [
      runMeta({ agent: 'a', createdAt: '2026-01-01T00:00:00.000Z' }),
      runMeta({ agent: 'b', createdAt: '2026-01-03T00:00:00.000Z' }),
      runMeta({ agent: 'c', createdAt: '2026-01-02T00:00:00.000Z' }),
    ];
    for (const run of runs) await isolated.store.createRun(run);
    await isolated.store.putApproval(approval('approval-in-listing', runs[0]!.runId));

    const listed = await isolated.store.listRuns({});
    expect(listed.map((run) => run.agent)).toEqual(['b', 'c', 'a']);
    expect((await isolated.store.listRuns({ limit: 1 })).map((run) => run.agent)).toEqual(['b']);
    await expect(isolated.store.listRuns({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
  });

  it('pages through runs with a cursor and filters them by status and role, with and without an agent', async () => {
    const isolated = await testTable();
    const agent = 'paging-agent';
    // Two runs share a millisecond: the run id breaks the tie, so no page repeats or skips one.
    const runs = [
      runMeta({ agent, runId: 'r-page-a', createdAt: '2026-04-01T00:00:00.000Z' }),
      runMeta({ agent, runId: 'r-page-b', createdAt: '2026-04-02T00:00:00.000Z', status: 'finished' }),
      runMeta({ agent, runId: 'r-page-c', createdAt: '2026-04-02T00:00:00.000Z' }),
      runMeta({ agent, runId: 'r-page-d', createdAt: '2026-04-03T00:00:00.000Z', role: 'checker' }),
      runMeta({ agent: 'another', runId: 'r-page-e', createdAt: '2026-04-04T00:00:00.000Z' }),
    ];
    for (const run of runs) await isolated.store.createRun(run);

    for (const scope of [{ agent }, {}]) {
      const seen: string[] = [];
      let cursor: { createdAt: string; runId: string } | undefined;
      for (let page = 0; page < 10; page++) {
        const listed = await isolated.store.listRuns({ ...scope, limit: 2, cursor });
        seen.push(...listed.map((run) => run.runId));
        if (listed.length < 2) break;
        cursor = { createdAt: listed.at(-1)!.createdAt, runId: listed.at(-1)!.runId };
      }
      const expected = ['r-page-d', 'r-page-c', 'r-page-b', 'r-page-a'];
      expect(seen).toEqual('agent' in scope ? expected : ['r-page-e', ...expected]);

      const makers = await isolated.store.listRuns({ ...scope, role: 'maker', limit: 2 });
      expect(makers.map((run) => run.runId)).toEqual('agent' in scope ? ['r-page-c', 'r-page-b'] : ['r-page-e', 'r-page-c']);
      expect((await isolated.store.listRuns({ ...scope, status: 'finished' })).map((run) => run.runId)).toEqual(['r-page-b']);
      expect(await isolated.store.listRuns({ ...scope, status: 'paused' })).toEqual([]);
    }
  });

  it('stores an approval once: a repeat with the same id changes nothing', async () => {
    const record = approval('approval-1', 'run-x');
    await store.putApproval(record);
    await store.putApproval({ ...record, status: 'approved', taskToken: 'another-token' });

    expect(await store.getApproval('approval-1')).toEqual(record);
    expect(await store.getApproval('approval-unknown')).toBeUndefined();
  });

  it('claims a side-effecting call once: a second claim is in doubt until its outcome is recorded, then replays it', async () => {
    const runId = newRunId();
    const recorded = {
      result: { type: 'tool_result' as const, callId: 'toolu_01#x', name: 'github__merge_pr', content: 'merged', isError: false },
      trace: { kind: 'tool_call' as const, role: 'maker' as const, name: 'github.merge_pr', status: 'ok' as const, startedAt: 'a', endedAt: 'b', latencyMs: 12 },
    };
    expect(await store.claimSideEffect(runId, 'toolu_01#x', 'github.merge_pr', '2026-01-05T08:00:00.000Z')).toEqual({ state: 'claimed' });
    expect(await store.claimSideEffect(runId, 'toolu_01#x', 'github.merge_pr', '2026-01-05T08:00:05.000Z')).toEqual({ state: 'in_doubt', startedAt: '2026-01-05T08:00:00.000Z' });
    await store.completeSideEffect(runId, 'toolu_01#x', recorded, '2026-01-05T08:00:01.000Z');
    expect(await store.claimSideEffect(runId, 'toolu_01#x', 'github.merge_pr', '2026-01-05T08:00:09.000Z')).toEqual({ state: 'completed', recorded });
    // Another call of the same run is its own claim.
    expect(await store.claimSideEffect(runId, 'toolu_02', 'github.merge_pr', '2026-01-05T08:00:09.000Z')).toEqual({ state: 'claimed' });
  });

  it('counts a rate window exactly under concurrency: 30 racing takes against a limit of 10', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, () => store.takeRateToken('tool:github.merge_pr', '2026-01-05T08:00:00.000Z', 10, 1_767_603_600)));
    expect(results.filter(Boolean)).toHaveLength(10);
    // The next window starts afresh.
    expect(await store.takeRateToken('tool:github.merge_pr', '2026-01-05T08:01:00.000Z', 10, 1_767_603_660)).toBe(true);
  });

  it('reserves a budget charge once, refuses one that does not fit, and settles it once', async () => {
    const line = { name: 'b', scope: 'team' as const, key: 'platform', period: 'day' as const, periodKey: '2026-01-05', limitMicros: 100, reserveMicros: 60, reserveTokens: 10 };
    const charge = { chargeId: 'r-1-c1-x', runId: 'r-1', lines: [line], at: '2026-01-05T08:00:00.000Z' };
    expect(await store.reserveBudget(charge)).toEqual({ ok: true });
    expect(await store.reserveBudget(charge)).toEqual({ ok: true }); // a retry: counted once
    expect(await store.getBudgetUsage('team', 'platform', '2026-01-05')).toMatchObject({ usedMicros: 60, spentMicros: 0 });
    const second = { ...charge, chargeId: 'r-2-c1-y', runId: 'r-2' };
    expect(await store.reserveBudget(second)).toEqual({ ok: false, line, usedMicros: 60, usedTokens: 10, spentMicros: 0, spentTokens: 0 });
    // Held, not spent: the model step waits for such a charge (BudgetContended) rather than stopping.
    await store.settleBudget(charge, { micros: 25, tokens: 7 });
    await store.settleBudget(charge, { micros: 25, tokens: 7 }); // a retry: settled once
    expect(await store.getBudgetUsage('team', 'platform', '2026-01-05')).toEqual({ usedMicros: 25, usedTokens: 7, spentMicros: 25, spentTokens: 7 });
    expect(await store.reserveBudget(second)).toEqual({ ok: true });
    // The refused reservation left no ledger row, so nothing else changed.
    expect(await store.getBudgetUsage('team', 'platform', '2026-01-05')).toMatchObject({ usedMicros: 85 });
  });

  it('lets exactly one of 50 racing commits at the same seq win', async () => {
    const started = await startedRun();
    const attempts = Array.from({ length: 50 }, (_, i) =>
      stepCommit(started, { messages: [userMessage(`attempt ${i}`)], trace: 1 }),
    );

    // As the state machine would: a transient failure is retried until committed or stale.
    const commitRetrying = async (commit: StepCommit): Promise<'committed' | 'stale'> => {
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
    const winner = outcomes.indexOf('committed');
    const state = await store.loadState(started.runId);
    expect(state?.meta.seq).toBe(started.seq + 1);
    expect(state?.messages).toEqual([userMessage('triage acme/shop'), userMessage(`attempt ${winner}`)]);
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

function approval(approvalId: string, runId: string): ApprovalRecord {
  return {
    approvalId,
    runId,
    seq: 3,
    taskToken: 'token-never-shown',
    tools: ['github__delete_branch'],
    callIds: ['call-1'],
    reasons: ['github.delete_branch is flagged destructive'],
    approvers: ['ops@example.com'],
    status: 'pending',
    createdAt: '2026-01-05T08:00:00.000Z',
    expiresAt: '2026-01-06T08:00:00.000Z',
  };
}
