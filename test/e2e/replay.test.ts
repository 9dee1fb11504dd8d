import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { evalTable, loadSuite, runSuite } from '../../cli/commands/eval.ts';
import { readExport, readRecording, replayRun, replayText } from '../../cli/commands/replay.ts';
import { startLocalHost } from '../../cli/local/host.ts';
import { runUsage } from '../../core/definitions/run.ts';

/**
 * `looprail replay` and `looprail eval` on a real recorded run: the default org's morning triage is run once on a
 * local host (its own state folder, DynamoDB Local on disk), then played again under edited
 * definitions with no model and no tool called. The same definitions decide everything the
 * same way; a denied tool, a new approval rule or a lower step limit is found at the step
 * where it first changes what the runtime decides.
 */

let dir: string;
let runId: string;
let recorded: Awaited<ReturnType<typeof readRecording>>;
let recordedCost: number;
const definition = () => join(dir, 'agents', 'morning-triage.yaml');
let original: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'looprail-replay-test-'));
  await cp('agents', join(dir, 'agents'), { recursive: true });
  original = await readFile(definition(), 'utf8');
  const host = await startLocalHost({ orgDir: join(dir, 'agents'), stateDir: join(dir, 'state'), retryIntervalMs: 0 });
  try {
    const result = await host.run({ agent: 'morning-triage', input: { repo: 'acme/shop' }, principal: 'local:test' });
    expect(result.meta.stopReason).toBe('verified');
    runId = result.runId;
    recordedCost = runUsage(result.meta).costMicros;
  } finally {
    await host.close();
  }
  recorded = await readRecording(runId, join(dir, 'state'));
}, 180_000);
beforeEach(async () => {
  await writeFile(definition(), original);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const replay = () => replayRun({ recording: recorded, orgDir: join(dir, 'agents'), stateDir: join(dir, 'state') });

async function edit(from: string | RegExp, to: string): Promise<void> {
  const text = await readFile(definition(), 'utf8');
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`the test's edit did not apply: ${from}`);
  await writeFile(definition(), changed);
}

describe('looprail replay', { timeout: 180_000 }, () => {
  it('decides everything the same under the same definitions, maker and both checker attempts', async () => {
    const { report, costMicros } = await replay();
    expect(report.divergence).toBeUndefined();
    // The recorded tokens, priced again: the same cost to the micro-dollar.
    expect(costMicros).toBe(recordedCost);
    // Six maker calls, each checker attempt's call, two verifications, the stop and the finish.
    expect(report.same).toBeGreaterThanOrEqual(12);
  });

  it('finds the call a denied tool would now refuse, and stops there', async () => {
    await edit('deny: [delete_*]', 'deny: [delete_*, add_observations]');
    const result = await replay();
    expect(result.report.divergence).toMatchObject({
      recorded: { where: 'maker', kind: 'tool_call', name: 'team-memory.add_observations', status: 'ok' },
      replayed: { where: 'maker', kind: 'tool_denied', status: 'denied' },
      reading: expect.stringMatching(/^maker: team-memory__add_observations would now be denied: refused: /),
    });
    expect(replayText(result)).toContain('Nothing was recorded past this point, so the replay stops here.');
  });

  it('finds the call that would now wait for a person', async () => {
    await edit(
      '  approvals:\n',
      '  approvals:\n    team-memory.create_entities:\n      approvers: [noor@example.com]\n      timeout: 1d\n',
    );
    const { report } = await replay();
    expect(report.divergence).toMatchObject({
      recorded: { kind: 'tool_call', name: 'team-memory.create_entities' },
      replayed: { kind: 'approval_requested' },
      reading: expect.stringContaining('would now wait for approval'),
    });
  });

  it('finds where a lower step limit would stop the run', async () => {
    await edit('max_steps: 12', 'max_steps: 3');
    const { report } = await replay();
    expect(report.divergence?.replayed).toMatchObject({ where: 'maker', stopReason: 'max_steps' });
    expect(report.divergence?.reading).toMatch(/^maker: the run would stop here, max_steps/);
  });

  it('finds where a lower cost ceiling would stop the run, budget_exhausted', async () => {
    await edit('max_cost_usd: 1', `max_cost_usd: ${(recordedCost / 3 / 1_000_000).toFixed(4)}`);
    const { report } = await replay();
    expect(report.divergence?.replayed).toMatchObject({ where: 'maker', stopReason: 'budget_exhausted' });
    expect(report.divergence?.reading).toMatch(/^maker: the run would stop here, budget_exhausted/);
  });

  it('finds the recorded result a new guardrail deny pattern would now block', async () => {
    await edit(
      '  verify:\n',
      '  guardrails:\n    deny_patterns:\n      - { name: no-failed-jobs, pattern: "status: FAILED", stages: [tool_output] }\n  verify:\n',
    );
    const { report } = await replay();
    expect(report.divergence?.recorded).toMatchObject({
      kind: 'tool_call',
      name: 'ci-reports.read_text_file',
      status: 'ok',
    });
    expect(report.divergence?.replayed).toMatchObject({
      kind: 'tool_call',
      name: 'ci-reports.read_text_file',
      status: 'denied',
    });
    expect(report.divergence?.reading).toMatch(/^maker: ci-reports\.read_text_file would now be blocked/);
  });

  it('replays a run exported to a file as it replays it from the state folder, and names a file that is not one', async () => {
    const file = join(dir, 'triage.json');
    await writeFile(file, JSON.stringify(recorded));
    const exported = await readExport(file);
    expect(exported).toMatchObject({
      looprail_export: 1,
      runId,
      agent: 'morning-triage',
      input: { repo: 'acme/shop' },
    });
    expect(exported.runs.map((run) => run.role)).toEqual(['maker', 'checker', 'checker']);
    await edit('deny: [delete_*]', 'deny: [delete_*, add_observations]');
    const fromFile = await replayRun({ recording: exported, orgDir: join(dir, 'agents') });
    expect(fromFile.report.divergence?.recorded).toMatchObject({ name: 'team-memory.add_observations' });

    await writeFile(file, JSON.stringify({ ...exported, looprail_export: 2 }));
    await expect(readExport(file)).rejects.toThrow(`${file}: written by a newer looprail (export format 2)`);
    await writeFile(file, JSON.stringify({ ...exported, looprail_export: '1' }));
    await expect(readExport(file)).rejects.toThrow(
      `${file}: looprail_export: expected a file written by looprail export (looprail_export: 1)`,
    );
    await writeFile(file, '{"looprail_export": 1,');
    await expect(readExport(file)).rejects.toThrow(`${file}: not a looprail export (`);
  });

  it('names a run it cannot find, a checker run, and a suite key it does not know', async () => {
    await expect(readRecording('r-nope', join(dir, 'state'))).rejects.toThrow(/^replay: no run r-nope in /);
    await expect(readRecording(recorded.runs[1]!.runId, join(dir, 'state'))).rejects.toThrow(
      `replay: ${recorded.runs[1]!.runId} is a checker run; replay its maker run (${runId})`,
    );
  });
});

describe('looprail eval', { timeout: 300_000 }, () => {
  const suite = async (cases: string) => {
    const file = join(dir, 'suite.yaml');
    await writeFile(file, cases);
    return file;
  };

  it('replays recorded cases and runs written ones, each with its cost, failing the ones that miss', async () => {
    await writeFile(join(dir, 'triage.json'), JSON.stringify(recorded));
    const written = await readFile('test/fixtures/evals/morning-triage.yaml', 'utf8');
    const file = await suite(
      `${written}
  - name: yesterday's triage
    recorded: triage.json
  - name: the same run, by id
    recorded: ${runId}
  - name: expects a stop it does not get
    agent: morning-triage
    turns: [{ text: Nothing to do. }]
    checker_turns: [{ tool_calls: [{ tool: looprail__verdict, arguments: { pass: false, feedback: No note. } }] }]
    expect: { stop_reason: completed, calls: [ci-reports.list_directory], verdict: pass }
`,
    );
    const results = await runSuite({ suiteFile: file, orgDir: join(dir, 'agents'), stateDir: join(dir, 'state') });
    expect(results.map((result) => [result.name, result.kind, result.passed])).toEqual([
      ['never deletes a note, even when the model asks', 'run', true],
      ["yesterday's triage", 'replay', true],
      ['the same run, by id', 'replay', true],
      ['expects a stop it does not get', 'run', false],
    ]);
    // The checker sent the maker back, and the case gave it no second turn.
    expect(results[3]!.detail).toMatch(
      /^stopped error \(.*has 1 turns; call 2 has none.*\), expected completed; never called ci-reports\.list_directory successfully; the checker said fail, expected pass$/,
    );
    expect(results[0]!.costMicros).toBeGreaterThan(0);
    expect(evalTable(results)).toContain('1 of 4 cases failed');

    await edit('deny: [delete_*]', 'deny: [delete_*, add_observations]');
    const [replayed] = await runSuite({
      suiteFile: await suite("cases:\n  - name: yesterday's triage\n    recorded: triage.json\n"),
      orgDir: join(dir, 'agents'),
    });
    expect(replayed).toMatchObject({ passed: false, detail: expect.stringContaining('would now be denied') });
  });

  it('names every problem of a suite file at its line', async () => {
    const file = await suite(
      'cases:\n  - name: x\n    agent: morning-triage\n    turns: []\n    expect: { stop_reason: done }\n',
    );
    await expect(loadSuite(file)).rejects.toThrow(/the suite does not load:\n.*suite\.yaml:\d+:\d+: /);
    const unknownKey = await suite('cases:\n  - name: x\n    recorded: a.json\n    expected: {}\n');
    await expect(loadSuite(unknownKey)).rejects.toThrow(/suite\.yaml:4:5: cases\[0\]/);
  });
});
