import { AsyncLocalStorage } from 'node:async_hooks';
import { DeleteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPartition } from '../../adapters/dynamodb/keys.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { MemoryStore } from '../../core/ports/memory-store.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import { testHost } from '../support/local-host.ts';

/**
 * A crash at every commit of a ledger write: the morning loop (test/fixtures/memory-org)
 * claims two items, reports them and writes a note, each call recorded in the side-effect
 * ledger and written to loop memory. Its ToolStep "crashes" (Lambda.Unknown, retried by
 * the ASL) before and after each of its writes, to the run store or to memory, and on
 * return; every disturbed run must end exactly as the undisturbed one: the same ledger
 * (no item lost, none claimed twice, attempts counted once), the same note versions, the
 * same conversation and trace. A ledger write that a crash left unrecorded is made again
 * and finds itself applied, so unlike an MCP call it is never "in doubt".
 */

const STORE_WRITES = ['commit', 'claimSideEffect', 'completeSideEffect'];
const MEMORY_WRITES = ['putItemIf', 'deleteItemIf', 'putNoteIf', 'putOperatorAction'];

interface Point {
  seq: number;
  at: { when: 'before' | 'after'; write: number } | { when: 'return' };
}
interface Invocation {
  seq: number;
  writes: string[];
  /** Writes started: a turn's calls run in parallel, so each write is numbered when it starts. */
  started: number;
  ok?: boolean;
}

let point: Point | undefined;
let fired = 0;
const current = new AsyncLocalStorage<Invocation>();
let invocations: Invocation[] = [];
let host: LocalHost & { stateDir: string };

function crash(): Error {
  fired += 1;
  const error = new Error('the function crashed (injected)');
  error.name = 'Lambda.Unknown';
  return error;
}

const armedFor = (invocation: Invocation | undefined) =>
  fired === 0 && point !== undefined && invocation !== undefined && invocation.seq === point.seq;

/** Every write of `names` on `target` counted, and crashed at the armed point. */
function faulty<T extends object>(target: T, names: string[]): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const original = Reflect.get(object, property, receiver);
      if (!names.includes(property as string)) return original;
      return async (...args: unknown[]) => {
        const invocation = current.getStore();
        const number = invocation ? ++invocation.started : 0;
        const at = point?.at;
        const armed = armedFor(invocation) && at?.when !== 'return' && at?.write === number;
        if (armed && at?.when === 'before') throw crash();
        const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(object, args);
        invocation?.writes.push(property as string);
        if (armed && at?.when === 'after') throw crash();
        return result;
      };
    },
  });
}

beforeAll(async () => {
  host = await testHost('test/fixtures/memory-org', {
    wrapDeps: (deps) => ({
      ...deps,
      store: faulty(deps.store as RunStore, STORE_WRITES),
      memory: faulty(deps.memory as MemoryStore, MEMORY_WRITES),
    }),
    wrapHandlers: (handlers) =>
      Object.fromEntries(
        Object.entries(handlers).map(([state, handler]) => [
          state,
          async (payload: unknown) => {
            if (state !== 'ToolStep') return handler(payload);
            const { seq = 0 } = payload as { seq?: number };
            const invocation: Invocation = { seq, writes: [], started: 0 };
            invocations.push(invocation);
            const output = await current.run(invocation, () => handler(payload));
            if (armedFor(invocation) && point!.at.when === 'return') throw crash();
            invocation.ok = true;
            return output;
          },
        ]),
      ) as typeof handlers,
  });
});
afterAll(async () => {
  await host?.close();
});

/** Each round starts from an empty memory: every item and note of the agent is removed. */
async function wipeMemory(agent: string): Promise<void> {
  const db = DynamoDBDocumentClient.from(host.dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  const page = await db.send(
    new QueryCommand({
      TableName: host.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': memoryPartition(agent) },
    }),
  );
  for (const item of page.Items ?? []) {
    await db.send(new DeleteCommand({ TableName: host.tableName, Key: { pk: item.pk, sk: item.sk } }));
  }
}

function normalize<T>(value: T, runId: string): T {
  const text = JSON.stringify(value)
    .replaceAll(runId, 'RUN')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, 'TIME')
    .replace(/"expiresAt":\d+/g, '"expiresAt":0');
  return JSON.parse(text) as T;
}

async function runOnce(injected: Point | undefined) {
  await wipeMemory('morning');
  point = injected;
  fired = 0;
  invocations = [];
  const { runId, meta } = await host.run({ agent: 'morning', input: {} });
  const state = await host.deps.store.loadState(runId);
  const trace = await host.deps.store.listTrace(runId);
  const memory = host.deps.memory!;
  const { runId: _id, createdAt: _c, startedAt: _s, endedAt: _e, ...rest } = meta;
  return {
    fired,
    invocations: invocations.map((i) => ({ ...i, writes: [...i.writes] })),
    meta: normalize(rest, runId),
    messages: normalize(state!.messages, runId),
    trace: normalize(
      trace.map(({ startedAt: _s2, endedAt: _e2, latencyMs: _l, ...event }: TraceEvent) => event),
      runId,
    ),
    items: normalize(await memory.listItems('morning'), runId),
    notes: normalize(await memory.listNotes('morning', 10), runId),
  };
}

type Run = Awaited<ReturnType<typeof runOnce>>;

function pointsOf(baseline: Run): Point[] {
  return baseline.invocations
    .filter((i) => i.ok && i.writes.some((w) => MEMORY_WRITES.includes(w)))
    .flatMap((i) => [
      ...i.writes.flatMap((_, index) => [
        { seq: i.seq, at: { when: 'before' as const, write: index + 1 } },
        { seq: i.seq, at: { when: 'after' as const, write: index + 1 } },
      ]),
      { seq: i.seq, at: { when: 'return' as const } },
    ]);
}

const label = (p: Point) =>
  `ToolStep seq${p.seq} ${p.at.when === 'return' ? 'on return' : `${p.at.when} write ${p.at.write}`}`;

describe('a crash at every commit of a ledger write', () => {
  let baseline: Run;
  beforeAll(async () => {
    baseline = await runOnce(undefined);
  });

  it('has an undisturbed run that claims, reports and writes a note, each write recorded once', () => {
    expect(baseline.meta).toMatchObject({ status: 'finished', stopReason: 'completed' });
    expect(baseline.items.map((item) => [item.id, item.state, item.attempts])).toEqual([
      ['ci-1', 'done', 1],
      ['ci-2', 'failed', 1],
    ]);
    expect(baseline.notes.map((note) => [note.version, note.runId])).toEqual([[1, 'RUN']]);
    const writing = baseline.invocations.filter((i) => i.ok && i.writes.some((w) => MEMORY_WRITES.includes(w)));
    expect(writing.map((i) => [...i.writes].sort())).toEqual([
      [
        'claimSideEffect',
        'claimSideEffect',
        'commit',
        'completeSideEffect',
        'completeSideEffect',
        'putItemIf',
        'putItemIf',
      ],
      [
        'claimSideEffect',
        'claimSideEffect',
        'claimSideEffect',
        'commit',
        'completeSideEffect',
        'completeSideEffect',
        'completeSideEffect',
        'putItemIf',
        'putItemIf',
        'putNoteIf',
      ],
    ]);
  });

  it('before, between and after every write, and on return: the run ends as if nothing happened', async () => {
    const points = pointsOf(baseline);
    expect(points.length).toBe(2 * 7 + 1 + 2 * 10 + 1);
    for (const p of points) {
      const disturbed = await runOnce(p);
      const name = label(p);
      expect(disturbed.fired, name).toBe(1);
      expect(disturbed.items, name).toEqual(baseline.items);
      expect(disturbed.notes, name).toEqual(baseline.notes);
      expect(disturbed.messages, name).toEqual(baseline.messages);
      expect(disturbed.trace, name).toEqual(baseline.trace);
      expect(disturbed.meta, name).toEqual(baseline.meta);
    }
  }, 400_000);
});
