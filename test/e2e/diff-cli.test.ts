import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { looprailCli } from '../support/looprail-cli.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accessDiff, DIFF_WIDENED_EXIT } from '../../cli/commands/diff.ts';

/**
 * `looprail diff` in a git repository as a reviewer runs it on a pull request: the default
 * org committed, then edited in the working tree the ways a change to a loop arrives — a
 * grant opened, an approval dropped, a ceiling moved, an agent added or deleted — and the
 * report says which way each change moves what the agent may do, with the exit status CI reads.
 */

const run = promisify(execFile);
let repo: string;

const looprail = (...args: string[]) => looprailCli(args, { cwd: repo, timeoutMs: 120_000 });

const git = (...args: string[]) =>
  run('git', ['-c', 'user.email=ci@example.com', '-c', 'user.name=ci', ...args], { cwd: repo });

async function edit(file: string, from: string | RegExp, to: string): Promise<void> {
  const path = join(repo, file);
  const text = await readFile(path, 'utf8');
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`the test's edit did not apply to ${file}: ${from}`);
  await writeFile(path, changed);
}

interface Change {
  agent: string;
  facet: string;
  change: string;
  before?: string;
  after?: string;
  direction: string;
}

/** What `looprail diff --json` prints, computed in this process (the CLI itself is run where its output matters). */
async function changes(base = 'HEAD'): Promise<{ code: number; widened: boolean; changes: Change[] }> {
  const result = await accessDiff({ base, org: 'agents', cwd: repo });
  if ('problems' in result) throw new Error(result.problems.join('\n'));
  return { code: result.diff.widened ? DIFF_WIDENED_EXIT : 0, ...result.diff };
}

beforeAll(async () => {
  repo = await mkdtemp(join(tmpdir(), 'looprail-diff-'));
  await cp('agents', join(repo, 'agents'), { recursive: true });
  await git('init', '-q');
  await git('add', '-A');
  await git('commit', '-qm', 'the org as reviewed');
});
beforeEach(async () => {
  await git('checkout', '-q', '--', '.');
  await git('clean', '-qfd');
});
afterAll(async () => {
  await rm(repo, { recursive: true, force: true });
});

describe('looprail diff', () => {
  it('says nothing changed when the working tree is the base', async () => {
    expect(await changes()).toEqual({ code: 0, widened: false, changes: [] });
  });

  it('marks an opened grant, a dropped approval and a raised ceiling as widening, exit 2', async () => {
    await edit('agents/morning-triage.yaml', /deny: \[delete_\*\].*/, 'deny: []');
    await edit('agents/morning-triage.yaml', / {2}approvals:\n( {4}.*\n)+? {6}timeout: 1d\n/, '  approvals: {}\n');
    await edit('agents/morning-triage.yaml', 'max_steps: 12', 'max_steps: 30');
    const { code, widened, changes: found } = await changes();
    expect([code, widened]).toEqual([2, true]);
    expect(found.map((change) => [change.facet, change.change, change.direction])).toEqual([
      ['tool team-memory.create_relations', 'changed', 'widens'],
      ['tool team-memory.delete_entities', 'added', 'widens'],
      ['tool team-memory.delete_observations', 'added', 'widens'],
      ['tool team-memory.delete_relations', 'added', 'widens'],
      ['approval team-memory.create_relations', 'removed', 'widens'],
      ['limit max_steps', 'changed', 'widens'],
    ]);
    expect(found.find((change) => change.facet === 'limit max_steps')).toMatchObject({ before: '12', after: '30' });

    const text = await looprail('diff');
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(/▲ widens +\+ tool team-memory\.delete_entities +destructive/);
    expect(text.stdout).toContain('access widened: 6 changes since HEAD (exit status 2)');
    const markdown = await looprail('diff', '--markdown');
    expect(markdown.stdout).toContain('**looprail diff** against `HEAD`: ⚠️ access widened (6 changes).');
    expect(markdown.stdout).toContain('| ▲ widens | changed | `limit max_steps` | 12 | 30 |');
  });

  it('marks a lowered ceiling and a new approval as narrowing, exit 0', async () => {
    await edit('agents/morning-triage.yaml', 'max_steps: 12', 'max_steps: 8');
    await edit(
      'agents/morning-triage.yaml',
      '  approvals:\n',
      '  approvals:\n    ci-reports.read_text_file:\n      approvers: [noor@example.com]\n      timeout: 1d\n',
    );
    const { code, widened, changes: found } = await changes();
    expect([code, widened]).toEqual([0, false]);
    expect(found.map((change) => [change.facet, change.direction])).toEqual([
      ['tool ci-reports.read_text_file', 'narrows'],
      ['approval ci-reports.read_text_file', 'narrows'],
      ['limit max_steps', 'narrows'],
      ['subagent triage-reviewer tool ci-reports.read_text_file', 'narrows'],
    ]);
  });

  it('reads a tool held until verification as a gate: added narrows, dropped widens', async () => {
    const file = 'agents/morning-triage.yaml';
    await edit(
      file,
      '    checker: triage-reviewer\n',
      '    checker: triage-reviewer\n    release: [team-memory.create_entities]\n',
    );
    await git('commit', '-qam', 'the push held until verified');
    expect((await changes('HEAD~1')).changes).toEqual([
      {
        agent: 'morning-triage',
        facet: 'release team-memory.create_entities',
        change: 'added',
        after: 'team-memory.create_entities held until verification passes',
        direction: 'narrows',
      },
    ]);
    await edit(file, '    release: [team-memory.create_entities]\n', '');
    const dropped = await changes();
    expect([dropped.code, dropped.changes.map((change) => [change.facet, change.change, change.direction])]).toEqual([
      2,
      [['release team-memory.create_entities', 'removed', 'widens']],
    ]);
    await git('reset', '-q', '--hard', 'HEAD~1');
  });

  it("finds a widening hidden in a glob: a grant's deny-list replaced by allow: ['*']", async () => {
    await edit('agents/morning-triage.yaml', /deny: \[delete_\*\].*/, "allow: ['*']");
    const { code, changes: found } = await changes();
    expect(code).toBe(2);
    expect(found.map((change) => [change.facet, change.change, change.direction])).toEqual([
      ['tool team-memory.delete_entities', 'added', 'widens'],
      ['tool team-memory.delete_observations', 'added', 'widens'],
      ['tool team-memory.delete_relations', 'added', 'widens'],
    ]);
  });

  it('sees no change in a reordering or a comment', async () => {
    const file = 'agents/morning-triage.yaml';
    await edit(
      file,
      'allow: [read_graph, search_nodes, open_nodes]',
      'allow: [open_nodes, read_graph, search_nodes] # reordered',
    );
    await edit(file, '# A morning triage loop', '# Reworded: a morning triage loop');
    expect(await changes()).toEqual({ code: 0, widened: false, changes: [] });
  });

  it('reports a model swap as a change to review, neither wider nor narrower', async () => {
    await edit('agents/morning-triage.yaml', 'model: demo-maker', 'model: claude-sonnet-4-6');
    const { code, changes: found } = await changes();
    expect(code).toBe(0);
    expect(found.map((change) => [change.facet, change.before, change.after, change.direction])).toEqual([
      ['model', 'demo-maker (scripted)', 'claude-sonnet-4-6 (anthropic)', 'changes'],
      ['model price', '$3/M in, $15/M out', '$3/M in, $15/M out, cached $0.3/M', 'changes'],
    ]);
  });

  it('counts a new agent as widening and a deleted one as narrowing, against a named base', async () => {
    const definition = await readFile(join(repo, 'agents/morning-triage.yaml'), 'utf8');
    await writeFile(
      join(repo, 'agents/evening-triage.yaml'),
      definition.replace('name: morning-triage', 'name: evening-triage'),
    );
    await git('add', '-A');
    await git('commit', '-qm', 'a second loop');
    await git('tag', 'two-loops');
    await git('rm', '-q', 'agents/evening-triage.yaml');
    const deleted = await changes('two-loops');
    expect(deleted.code).toBe(0);
    expect(deleted.changes).toEqual([
      expect.objectContaining({ agent: 'evening-triage', facet: 'agent', change: 'removed', direction: 'narrows' }),
    ]);
    await git('reset', '-q', '--hard', 'HEAD~1');
    await writeFile(
      join(repo, 'agents/evening-triage.yaml'),
      definition.replace('name: morning-triage', 'name: evening-triage'),
    );
    const fresh = await changes();
    expect(fresh.code).toBe(2);
    expect(fresh.changes).toEqual([
      expect.objectContaining({
        agent: 'evening-triage',
        facet: 'agent',
        change: 'added',
        direction: 'widens',
        after: expect.stringMatching(/^10 tools \(ci-reports\.list_directory, .*\); triggers: schedule$/),
      }),
    ]);
  });

  it('reads every other kind of change: a server flag, a budget, a trigger, a price, a guardrail, a checker grant', async () => {
    await edit(
      'agents/mcp-servers/team-memory.yaml',
      'create_entities: { pin',
      'create_entities: { read_only: true, pin',
    );
    await edit('agents/budgets.yaml', 'limit_usd: 5\n', 'limit_usd: 20\n');
    await edit('agents/morning-triage.yaml', 'cron: "0 6 * * 1-5"', 'cron: "0 * * * *"');
    await edit('agents/models.yaml', /(script: scripts\/triage-maker\.yaml\n {4}price: \{ input_per_mtok: )3/, '$14');
    await edit(
      'agents/morning-triage.yaml',
      '  verify:\n',
      '  guardrails:\n    deny_patterns:\n      - { name: no-secrets, pattern: "BEGIN PRIVATE KEY", stages: [tool_output] }\n  verify:\n',
    );
    await edit(
      'agents/morning-triage.yaml',
      'allow: [read_graph, search_nodes, open_nodes]',
      'allow: [read_graph, search_nodes, open_nodes, create_entities]',
    );
    const { code, changes: found } = await changes();
    expect(code).toBe(2);
    expect(found.map((change) => [change.facet, change.change, change.before, change.after, change.direction])).toEqual(
      [
        ['tool team-memory.create_entities', 'changed', 'writes, no approval', 'read-only, no approval', 'widens'],
        [
          'guardrail deny no-secrets',
          'added',
          undefined,
          expect.stringMatching(/^block .*BEGIN PRIVATE KEY/),
          'narrows',
        ],
        ['budget morning-triage-daily usd', 'changed', '$5 per day', '$20 per day', 'widens'],
        [
          'trigger schedule',
          'changed',
          'cron(0 6 ? * MON-FRI *) (Europe/Paris)',
          'cron(0 * * * ? *) (Europe/Paris)',
          'changes',
        ],
        [
          'subagent triage-reviewer tool team-memory.create_entities',
          'added',
          undefined,
          'read-only, no approval',
          'widens',
        ],
        ['model price', 'changed', '$3/M in, $15/M out', '$4/M in, $15/M out', 'changes'],
      ],
    );
  });

  it('exits 1 with the file and line when the working tree does not load, and names a ref that does not exist', async () => {
    await edit('agents/morning-triage.yaml', 'max_steps: 12', 'max_steps: twelve');
    const broken = await looprail('diff');
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(
      /^agents\/morning-triage\.yaml:\d+:\d+: agent\.harness\.max_steps: expected a positive whole number/m,
    );
    await git('checkout', '-q', '--', '.');
    const unknown = await looprail('diff', '--base', 'no-such-branch');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('looprail: diff: no commit "no-such-branch" in');
  });
});
