import { describe, expect, it } from 'vitest';
import { AgentSpec } from '../../core/definitions/agent.ts';
import { DEFAULT_MEMORY, MemorySpec, memorySummary, resolveMemory } from '../../core/definitions/memory.ts';
import {
  asOfNow,
  claimTransition,
  currentState,
  finishTransition,
  itemIdProblem,
  type LedgerItem,
} from '../../core/memory/ledger.ts';
import { nextNote, noteProblem } from '../../core/memory/notes.ts';
import { ledgerArgs } from '../../core/run/tools/ledger-args.ts';

/** The ledger's rules without a store: the definition, the transitions, the limits. */

const policy = { ...resolveMemory({})!, leaseSeconds: 60, maxAttempts: 2, itemIdMaxChars: 10, noteMaxChars: 20 };
const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6, 8, 0, seconds));
const write = (runId: string, callId = 'c') => ({ runId, callId, action: 'claim' as const });

describe('memory: in the definition', () => {
  it('fills every default, and says what is wrong with a bad value', () => {
    expect(resolveMemory({})).toEqual({
      retentionSeconds: DEFAULT_MEMORY.retention_seconds,
      leaseSeconds: 1800,
      maxAttempts: 3,
      noteMaxChars: 4000,
      itemIdMaxChars: 200,
      outcomeMaxChars: 1000,
      noteFromFinalAnswer: false,
    });
    expect(resolveMemory(undefined)).toBeUndefined();
    const lease = MemorySpec.safeParse({ lease: 'soon' });
    expect(lease.error?.issues[0]).toMatchObject({
      path: ['lease'],
      message: 'expected a duration such as 30s, 15m, 2h or 3d',
    });
    const attempts = MemorySpec.safeParse({ max_attempts: 0 });
    expect(attempts.error?.issues[0]).toMatchObject({
      path: ['max_attempts'],
      message: 'expected a number greater than 0',
    });
    const unknown = MemorySpec.safeParse({ ttl: '3d' });
    expect(unknown.error?.issues[0]?.message).toBe(
      'unknown memory setting ttl: expected { retention?, lease?, max_attempts?, note_max_chars?, item_id_max_chars?, note_from_final_answer? }',
    );
    expect(MemorySpec.safeParse('yes').error?.issues[0]?.message).toMatch(/^expected memory settings: \{ retention\?/);
    const spec = AgentSpec.parse({
      name: 'a',
      model: 'm',
      instructions: './i.md@v1',
      memory: { retention: '7d', lease: '2h' },
    });
    expect(memorySummary(resolveMemory(spec.memory)!)).toBe(
      'work ledger and handoff note, kept 7 d · lease 120 min · 3 attempts then needs_human · note ≤ 4000 chars · item id ≤ 200 chars',
    );
  });
});

describe('the ledger rules', () => {
  const claimed = (runId: string, now: Date, found?: LedgerItem) => {
    const result = claimTransition(found, { agent: 'a', id: 'x' }, write(runId), policy, now);
    if (result.kind !== 'write') throw new Error(`expected a write, got ${JSON.stringify(result)}`);
    return result.item;
  };

  it('a claim lasts its lease, then the item is open again', () => {
    const item = claimed('r1', at(0));
    expect(item).toMatchObject({
      state: 'claimed',
      attempts: 1,
      runId: 'r1',
      leaseUntil: at(60).toISOString(),
      version: 1,
    });
    expect(currentState(item, at(59))).toBe('claimed');
    expect(currentState(item, at(60))).toBe('open');
    expect(asOfNow(item, at(61))).toMatchObject({ state: 'open', leaseUntil: undefined, attempts: 1 });
    expect(claimTransition(item, { agent: 'a', id: 'x' }, write('r2'), policy, at(30))).toMatchObject({
      kind: 'refused',
      reason: `"x" is claimed: run r1 holds it until ${at(60).toISOString()}`,
    });
  });

  it('only the run that holds an item reports it; a failure on the last attempt needs a human', () => {
    const first = claimed('r1', at(0));
    const report = { state: 'failed' as const, outcome: 'flaky' };
    const finish = (runId: string, item: LedgerItem | undefined) =>
      finishTransition(item, 'x', report, { runId, callId: 'f', action: 'finish' }, policy, at(10));
    expect(finish('r2', first)).toMatchObject({
      kind: 'refused',
      reason: '"x" is not claimed by this run (it is claimed by run r1): claim it first',
    });
    expect(finish('r1', undefined)).toMatchObject({
      kind: 'refused',
      reason: 'the ledger has no item "x": claim it first',
    });
    const failed = finish('r1', first);
    expect(failed).toMatchObject({ kind: 'write', item: { state: 'failed', attempts: 1 } });
    const second = claimed('r2', at(100), (failed as { item: LedgerItem }).item);
    expect(second.attempts).toBe(2);
    expect(finish('r2', second)).toMatchObject({ kind: 'write', item: { state: 'needs_human', outcome: 'flaky' } });
  });

  it('limits: the item id, the note, the outcome, the state filter', () => {
    expect(itemIdProblem('', policy)).toBe('expected "id": the item\'s own key as non-empty text');
    expect(itemIdProblem('x'.repeat(11), policy)).toBe(
      "the item id is 11 characters; this agent's memory.item_id_max_chars is 10",
    );
    expect(itemIdProblem('a\nb', policy)).toBe(
      'the item id has control characters (a line break, a tab): use plain text',
    );
    expect(itemIdProblem('ci#1/2', policy)).toBeUndefined();
    expect(noteProblem('x'.repeat(21), policy)).toContain('memory.note_max_chars is 20');
    expect(ledgerArgs('looprail__ledger_done', { id: 'x', status: 'finished', outcome: 'o' }, policy)).toBe(
      'expected "status": one of done, failed, needs_human',
    );
    expect(ledgerArgs('looprail__ledger_done', { id: 'x', status: 'done', outcome: 'o'.repeat(1001) }, policy)).toBe(
      'the outcome is 1001 characters; at most 1000: keep it to a line or two',
    );
    expect(ledgerArgs('looprail__ledger_list', { state: 'lost' }, policy)).toBe(
      'expected "state": one of open, claimed, done, failed, needs_human',
    );
  });

  it('a note version follows the latest, and the same call finds its own', () => {
    const first = nextNote(
      undefined,
      { agent: 'a', runId: 'r1', callId: 'c', source: 'tool', text: 'hi' },
      policy,
      at(0),
    );
    expect(first).toMatchObject({ kind: 'write', note: { version: 1 } });
    expect(
      nextNote(first.note, { agent: 'a', runId: 'r1', callId: 'c', source: 'tool', text: 'hi' }, policy, at(1)).kind,
    ).toBe('applied');
    expect(
      nextNote(first.note, { agent: 'a', runId: 'r2', callId: 'c', source: 'tool', text: 'hi' }, policy, at(1)).note
        .version,
    ).toBe(2);
  });
});
