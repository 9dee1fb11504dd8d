import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoMemoryStore } from '../../adapters/dynamodb/memory-store.ts';
import { resolveMemory, type MemoryPolicy } from '../../core/definitions/memory.ts';
import { claimTransition, finishTransition, type Transition } from '../../core/memory/ledger.ts';
import { clearLedger, ledgerNow, operatorMark, writeItem, writeNote } from '../../core/memory/operations.ts';
import { testTable } from '../support/dynamodb.ts';

/** Loop memory on DynamoDB Local: the conditional writes that keep racing runs apart. */

let store: DynamoMemoryStore;

beforeAll(async () => {
  const table = await testTable();
  store = new DynamoMemoryStore({ client: table.client, tableName: table.tableName });
});

const policy: MemoryPolicy = { ...resolveMemory({})!, leaseSeconds: 60, maxAttempts: 2 };
const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6, 8, 0, seconds));

function claim(
  agent: string,
  id: string,
  runId: string,
  now: Date,
  callId = `call-${runId}-${id}`,
): Promise<Transition> {
  return writeItem(store, agent, id, (found) =>
    claimTransition(found, { agent, id }, { runId, callId, action: 'claim' }, policy, now),
  );
}

describe('the ledger on DynamoDB', () => {
  it('20 runs racing over 10 items: each item is claimed exactly once', async () => {
    const items = Array.from({ length: 10 }, (_, i) => `ci-${i}`);
    const runs = Array.from({ length: 20 }, (_, i) => `r-${i}`);
    // Every run tries every item, each in its own order, all at once.
    const tries = runs.flatMap((runId, r) =>
      items
        .map((_, i) => items[(i + r) % items.length]!)
        .map(async (id) => ({ runId, id, result: await claim('race', id, runId, at(0)) })),
    );
    const outcomes = await Promise.all(tries);
    const won = outcomes.filter((outcome) => outcome.result.kind === 'write');
    expect(won.map((outcome) => outcome.id).sort()).toEqual([...items].sort());
    const refused = outcomes.filter((outcome) => outcome.result.kind === 'refused');
    expect(refused).toHaveLength(20 * 10 - 10);
    for (const outcome of refused)
      expect((outcome.result as { reason: string }).reason).toMatch(/is claimed: run r-\d+ holds it/);
    const stored = await store.listItems('race');
    expect(stored).toHaveLength(10);
    for (const item of stored) {
      expect(item).toMatchObject({ state: 'claimed', attempts: 1, version: 1 });
      expect(won.find((outcome) => outcome.id === item.id)!.runId).toBe(item.runId);
    }
  });

  it('a claim whose run died returns to open when its lease runs out, and max_attempts sends the item to a human', async () => {
    expect((await claim('lease', 'job-1', 'r-dead', at(0))).kind).toBe('write');
    const early = await claim('lease', 'job-1', 'r-next', at(30));
    expect(early).toMatchObject({ kind: 'refused' });
    expect((early as { reason: string }).reason).toContain('run r-dead holds it until 2026-12-06T08:01:00.000Z');
    // The lease is over: listed as open, and claimable by the next run.
    expect((await ledgerNow(store, 'lease', at(61)))[0]).toMatchObject({ id: 'job-1', state: 'open', attempts: 1 });
    const second = await claim('lease', 'job-1', 'r-next', at(61));
    expect(second).toMatchObject({ kind: 'write', item: { state: 'claimed', attempts: 2, runId: 'r-next' } });
    // r-next dies too: a third claim finds the attempts used up.
    const third = await claim('lease', 'job-1', 'r-third', at(200));
    expect(third).toMatchObject({ kind: 'write', isError: true, item: { state: 'needs_human', attempts: 2 } });
    expect((third as { message: string }).message).toBe(
      'refused: "job-1" has used its 2 attempts (memory.max_attempts): it now needs a human',
    );
    expect(await claim('lease', 'job-1', 'r-fourth', at(300))).toMatchObject({ kind: 'refused' });
    expect((await store.getItem('lease', 'job-1'))!.state).toBe('needs_human');
  });

  it('the same call made again (a retried step) finds itself applied: nothing is written twice', async () => {
    const first = await claim('again', 'x#1/2', 'r-1', at(0), 'call-1');
    expect(first.kind).toBe('write');
    const version = (await store.getItem('again', 'x#1/2'))!.version;
    const repeated = await claim('again', 'x#1/2', 'r-1', at(5), 'call-1');
    expect(repeated).toMatchObject({ kind: 'applied', message: (first as { message: string }).message });
    const finish = () =>
      writeItem(store, 'again', 'x#1/2', (found) =>
        finishTransition(
          found,
          'x#1/2',
          { state: 'done', outcome: 'ok' },
          { runId: 'r-1', callId: 'call-2', action: 'finish' },
          policy,
          at(9),
        ),
      );
    expect((await finish()).kind).toBe('write');
    expect((await finish()).kind).toBe('applied');
    expect((await store.getItem('again', 'x#1/2'))!.version).toBe(version + 1);
  });

  it('note versions: racing writers each get their own number, newest first, each linked to its run', async () => {
    const runs = Array.from({ length: 8 }, (_, i) => `r-${i}`);
    await Promise.all(
      runs.map((runId) =>
        writeNote(store, { agent: 'notes', runId, callId: 'c', source: 'tool', text: `from ${runId}` }, policy, at(0)),
      ),
    );
    const notes = await store.listNotes('notes', 100);
    expect(notes.map((note) => note.version)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(new Set(notes.map((note) => note.runId))).toEqual(new Set(runs));
    for (const note of notes) expect(note.text).toBe(`from ${note.runId}`);
    // The same call again adds nothing.
    const latest = notes[0]!;
    await writeNote(
      store,
      { agent: 'notes', runId: latest.runId, callId: 'c', source: 'tool', text: latest.text },
      policy,
      at(1),
    );
    expect((await store.listNotes('notes', 100)).length).toBe(8);
    expect(latest.expiresAt).toBe(Math.floor(at(0).getTime() / 1000) + policy.retentionSeconds);
  });

  it("an operator's reopen, done and clear change the ledger and are recorded with who and when", async () => {
    await claim('ops', 'a', 'r-1', at(0));
    await claim('ops', 'b', 'r-1', at(0));
    const reopened = await operatorMark(store, 'ops', 'a', { action: 'reopen', by: 'ops@example.com' }, policy, at(10));
    expect(reopened).toMatchObject({
      kind: 'write',
      item: { state: 'open', attempts: 0, operator: { action: 'reopen', by: 'ops@example.com' } },
    });
    const done = await operatorMark(store, 'ops', 'b', { action: 'done', by: 'lead@example.com' }, policy, at(11));
    expect(done).toMatchObject({ kind: 'write', item: { state: 'done', outcome: 'marked done by lead@example.com' } });
    expect(await operatorMark(store, 'ops', 'nope', { action: 'done', by: 'x' }, policy, at(12))).toMatchObject({
      kind: 'refused',
      reason: 'the ledger has no item "nope"',
    });
    expect(await clearLedger(store, 'ops', 'lead@example.com', policy, at(20))).toBe(2);
    expect(await store.listItems('ops')).toEqual([]);
    const actions = await store.listOperatorActions('ops', 10);
    expect(actions.map(({ action, by, at: when, itemId }) => ({ action, by, when, itemId }))).toEqual([
      { action: 'clear', by: 'lead@example.com', when: at(20).toISOString(), itemId: undefined },
      { action: 'done', by: 'lead@example.com', when: at(11).toISOString(), itemId: 'b' },
      { action: 'reopen', by: 'ops@example.com', when: at(10).toISOString(), itemId: 'a' },
    ]);
    const [note] = await store.listNotes('ops', 1);
    expect(note).toMatchObject({ source: 'operator', runId: 'operator' });
    expect(note!.text).toContain('cleared by lead@example.com');
  });
});
