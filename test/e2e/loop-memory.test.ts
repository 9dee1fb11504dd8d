import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { resolveMemory } from '../../core/definitions/memory.ts';
import type { Message } from '../../core/definitions/messages.ts';
import { claimTransition } from '../../core/memory/ledger.ts';
import { ledgerNow, writeItem } from '../../core/memory/operations.ts';
import type { MemoryStore } from '../../core/ports/memory-store.ts';
import { runToEnd, testHost } from '../support/local-host.ts';
import { loadCatalog } from '../../cli/local/host.ts';
import { localMemory, memoryCommand } from '../../cli/commands/memory.ts';
import { agentMemory } from '../../core/memory/operator.ts';
import { memoryPage } from '../../functions/http/console/memory-page.ts';

/**
 * Loop memory end to end on the local host (DynamoDB Local, scripted models in
 * test/fixtures/memory-org): a run claims, reports and leaves a note; the next run reads the
 * note before its task and finds the ledger as the first left it; bad input is a tool error.
 */

let host: LocalHost & { stateDir: string };
let memory: MemoryStore;

beforeAll(async () => {
  host = await testHost('test/fixtures/memory-org');
  memory = host.deps.memory!;
});
afterAll(async () => {
  await host?.close();
});

const results = (messages: Message[]) =>
  messages
    .filter((message) => message.role === 'tool')
    .flatMap((message) => message.content)
    .flatMap((block) =>
      block.type === 'tool_result' ? [{ name: block.name, text: block.content, error: block.isError }] : [],
    );

const firstText = (messages: Message[]) => {
  const block = messages[0]!.content[0]!;
  return block.type === 'text' ? block.text : '';
};

describe('loop memory across runs', () => {
  it('a run claims, reports and leaves a note; the next reads the note first, skips the done item and retries the failed one', async () => {
    const first = await runToEnd(host, 'morning');
    expect(first.meta.status).toBe('finished');
    expect(firstText(first.messages)).not.toContain('Handoff note');
    const afterFirst = await ledgerNow(memory, 'morning', new Date());
    expect(
      afterFirst.map(({ id, state, attempts, runId, outcome }) => ({ id, state, attempts, runId, outcome })),
    ).toEqual([
      { id: 'ci-2', state: 'failed', attempts: 1, runId: first.runId, outcome: 'flaky network test, not fixed' },
      { id: 'ci-1', state: 'done', attempts: 1, runId: first.runId, outcome: 'fixed the import in build.ts' },
    ]);
    const [note] = await memory.listNotes('morning', 5);
    expect(note).toMatchObject({ version: 1, runId: first.runId, source: 'tool' });
    expect(note!.text).toContain('retry it next run');
    // Every ledger call is a trace event of its own.
    const ledgerTrace = first.trace.filter((event) => event.server === 'looprail');
    expect(ledgerTrace.map((event) => `${event.name} ${event.status}`)).toEqual([
      'looprail.ledger_list ok',
      'looprail.ledger_claim ok',
      'looprail.ledger_claim ok',
      'looprail.ledger_done ok',
      'looprail.ledger_done ok',
      'looprail.ledger_note ok',
    ]);

    const second = await runToEnd(host, 'morning');
    const prompt = firstText(second.messages);
    expect(prompt).toContain('# Handoff note from the previous run');
    expect(prompt).toContain(`Written by run ${first.runId}`);
    expect(prompt).toContain('ci-2 is a flaky network test: retry it next run.');
    const told = results(second.messages);
    expect(told[0]!.text).toContain('- ci-1: done · 1 attempt');
    expect(told[1]).toMatchObject({ name: 'looprail__ledger_claim', error: true });
    expect(told[1]!.text).toContain(`"ci-1" is done (run ${first.runId}: fixed the import in build.ts)`);
    expect(told[2]).toMatchObject({ error: false });
    expect(told[2]!.text).toContain('claimed "ci-2" (attempt 2 of 2)');
    expect(told[3]!.text).toContain('"ci-1" is not claimed by this run (it is done)');
    // Its last attempt failed: nobody would claim it again, so it waits for a human.
    expect(told[4]!.text).toBe('"ci-2" is needs_human after 2 attempts');
    const afterSecond = await ledgerNow(memory, 'morning', new Date());
    expect(afterSecond.map(({ id, state, runId }) => ({ id, state, runId }))).toEqual([
      { id: 'ci-2', state: 'needs_human', runId: second.runId },
      { id: 'ci-1', state: 'done', runId: first.runId },
    ]);
    const notes = await memory.listNotes('morning', 5);
    expect(notes.map((each) => [each.version, each.runId])).toEqual([
      [2, second.runId],
      [1, first.runId],
    ]);
  });

  it('bad input is a tool error the model reads, traced, and nothing is stored', async () => {
    const policy = resolveMemory({})!;
    const held = await writeItem(memory, 'careless', 'held-elsewhere', (found) =>
      claimTransition(
        found,
        { agent: 'careless', id: 'held-elsewhere' },
        { runId: 'r-other', callId: 'c1', action: 'claim' },
        policy,
        new Date(),
      ),
    );
    expect(held.kind).toBe('write');
    const before = await memory.listItems('careless');

    const run = await runToEnd(host, 'careless');
    const told = results(run.messages);
    expect(told.every((result) => result.error)).toBe(true);
    expect(told.map((result) => result.text)).toEqual([
      "invalid arguments for looprail.ledger_claim, nothing was stored: the item id is 44 characters; this agent's memory.item_id_max_chars is 20",
      "invalid arguments for looprail.ledger_note, nothing was stored: the note is 86 characters; this agent's memory.note_max_chars is 60: keep what the next run needs",
      expect.stringMatching(/^refused, nothing was stored: "held-elsewhere" is claimed: run r-other holds it until /),
      'refused, nothing was stored: the ledger has no item "never-claimed": claim it first',
    ]);
    expect(await memory.listItems('careless')).toEqual(before);
    expect(await memory.listNotes('careless', 5)).toEqual([]);
    const traced = run.trace.filter((event) => event.server === 'looprail');
    expect(traced.map((event) => event.status)).toEqual(['error', 'error', 'error', 'error']);
    expect(traced[0]!.detail).toContain('item_id_max_chars is 20');
  });

  it('a checker lists the ledger and may never write it', async () => {
    const run = await runToEnd(host, 'reviewed');
    expect(run.meta.stopReason).toBe('verified');
    const check = run.trace.find((event) => event.childRunId)!;
    const checker = await host.deps.store.loadState(check.childRunId!);
    const told = results(checker!.messages);
    expect(told[0]!.text).toContain('- pr-7: done · 1 attempt');
    expect(told[1]).toMatchObject({ name: 'looprail__ledger_done', error: true });
    expect(told[1]!.text).toBe(
      'refused: a checker may read the ledger (looprail__ledger_list) but never write it; nothing was stored',
    );
    // The checker was offered the list tool only.
    expect(
      checker!.context!.tools.filter((tool) => tool.name.startsWith('looprail__ledger')).map((t) => t.name),
    ).toEqual(['looprail__ledger_list']);
    const items = await ledgerNow(memory, 'reviewed', new Date());
    expect(items.map(({ id, state, outcome }) => ({ id, state, outcome }))).toEqual([
      { id: 'pr-7', state: 'done', outcome: 'reviewed' },
    ]);
  });

  it('looprail memory shows the ledger and the notes with their runs; reopen, done and clear are recorded', async () => {
    const catalog = await loadCatalog('test/fixtures/memory-org');
    expect(agentMemory(catalog, 'nobody')).toEqual({
      kind: 'unknown_agent',
      message: 'unknown agent "nobody" (known: careless, diarist, forgetful, guarded, morning, reviewed)',
    });
    const found = agentMemory(catalog, 'morning');
    if (found.kind !== 'memory') throw new Error(found.message);
    const runs = (await memory.listNotes('morning', 5)).map((note) => note.runId);
    const lines: string[] = [];
    const door = localMemory(memory, 'morning', found.policy, {
      principal: 'ops@example.com',
      now: () => new Date(),
    });
    const base = { log: (line: string) => lines.push(line) };
    expect(await memoryCommand(door, base)).toBe(true);
    const text = lines.join('\n');
    expect(text).toContain('morning — work ledger (2 items)');
    expect(text).toMatch(/needs_human\s+ci-2\s+2\/2 · run r-/);
    expect(text).toMatch(/done\s+ci-1\s+1\/2 · run r-.* · fixed the import in build.ts/);
    expect(text).toContain(`v2 · run ${runs[0]}`);
    expect(text).toContain(`v1 · run ${runs[1]}`);

    lines.length = 0;
    expect(await memoryCommand(door, { ...base, reopen: 'ci-2' })).toBe(true);
    expect(lines).toEqual(['✓ "ci-2" is open (reopen by ops@example.com)']);
    expect(await memoryCommand(door, { ...base, done: 'ci-404' })).toBe(false);
    expect(lines.at(-1)).toBe('✗ the ledger has no item "ci-404"');
    expect(await memoryCommand(door, { ...base, reopen: 'ci-1', clear: true })).toBe(false);
    expect(lines.at(-1)).toBe('✗ one action at a time: --reopen, --done or --clear');
    expect(await memoryCommand(door, { ...base, clear: true })).toBe(true);
    expect(lines.at(-1)).toBe("✓ cleared 2 items of morning's ledger (recorded as ops@example.com)");

    lines.length = 0;
    await memoryCommand(door, base);
    expect(lines.join('\n')).toContain('(empty)');
    expect(lines.join('\n')).toMatch(/clear by ops@example.com · 2 items removed/);
    expect(lines.join('\n')).toMatch(/reopen ci-2 by ops@example.com/);
    // The next run is told the ledger was cleared.
    const next = await runToEnd(host, 'morning');
    expect(firstText(next.messages)).toContain('The ledger was cleared by ops@example.com');
  });

  it('note_from_final_answer: the final answer is the note, once, and the next run reads it', async () => {
    const first = await runToEnd(host, 'diarist');
    expect(first.meta.stopReason).toBe('completed');
    const notes = await memory.listNotes('diarist', 5);
    expect(notes.map(({ version, runId, source, text }) => ({ version, runId, source, text }))).toEqual([
      {
        version: 1,
        runId: first.runId,
        source: 'final_answer',
        text: 'Answered issue-42. Next: issue-43 is waiting on the reporter.',
      },
    ]);
    const second = await runToEnd(host, 'diarist');
    expect(firstText(second.messages)).toContain('Next: issue-43 is waiting on the reporter.');
    expect((await memory.listNotes('diarist', 5)).map((note) => note.runId)).toEqual([second.runId, first.runId]);
  });

  it("the console's memory page: the ledger and the notes, each linked to its run, without script", async () => {
    const catalog = async () => loadCatalog('test/fixtures/memory-org');
    const deps = { memory, catalog, now: () => new Date() };
    const page = await memoryPage(deps, 'diarist');
    expect(page.status).toBe(200);
    const body = String(page.body);
    expect(body).not.toContain('<script');
    const [latest, first] = await memory.listNotes('diarist', 2);
    expect(body).toContain('<h1>Memory of diarist</h1>');
    expect(body).toMatch(/<code>issue-42<\/code><\/td><td class="done">done<\/td>/);
    expect(body).toContain(`<a href="/console/runs/${latest!.runId}">${latest!.runId}</a>`);
    expect(body).toContain(`<a href="/console/runs/${first!.runId}">${first!.runId}</a>`);
    expect(body).toContain('final answer');
    // Read-only: it says where the operator's actions are.
    expect(body).toContain('<code>looprail memory diarist --reopen &lt;id&gt; --url &lt;ApiUrl&gt;</code>');
    await expect(memoryPage(deps, 'nobody')).rejects.toThrow('unknown agent "nobody"');
  });

  it('what a run writes to memory is screened by its guardrails: a blocked note is not stored, and stops the run like any blocked call', async () => {
    const run = await runToEnd(host, 'guarded');
    expect(run.meta.stopReason).toBe('guardrail_blocked');
    const [told] = results(run.messages);
    expect(told).toMatchObject({ name: 'looprail__ledger_note', error: true });
    expect(told!.text).toMatch(
      /^looprail\.ledger_note stored nothing: its arguments were blocked by guardrail deny_patterns.no-ddl at tool_input/,
    );
    expect(await memory.listNotes('guarded', 5)).toEqual([]);
    const traced = run.trace.find((event) => event.name === 'looprail.ledger_note')!;
    expect(traced.status).toBe('denied');
    expect(traced.guardrails?.map((verdict) => verdict.rule)).toEqual(['deny_patterns.no-ddl']);
  });
});
