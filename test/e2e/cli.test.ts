import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { looprailCli } from '../support/looprail-cli.ts';
import { afterAll, describe, expect, it } from 'vitest';

/** The `looprail` command as a user runs it: exit codes, output, and no stack traces. */

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

const looprail = (...args: string[]) => looprailCli(args);

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-cli-'));
  temps.push(dir);
  return dir;
}

describe('looprail validate', () => {
  it('exits 0 with one summary line per agent', async () => {
    const { code, stdout } = await looprail('validate', 'agents/');
    expect(code).toBe(0);
    expect(stdout).toContain(
      '✓ morning-triage (agents/morning-triage.yaml): model demo-maker (scripted) · 2 servers, 10 tools (3 can write) · 1 sub-agent · checker triage-reviewer · schedule cron(0 6 ? * MON-FRI *) Europe/Paris',
    );
  });

  it('exits 1 and reports every problem as file:line:col: path: expected, never a stack trace', async () => {
    const org = await tempDir();
    await cp('test/fixtures/brief-org', org, { recursive: true });
    await writeFile(
      join(org, 'broken.yaml'),
      'agent:\n  name: Broken Name\n  model: nope\n  instructions: ./triage.md@v4\n  harness: { max_step: 3 }\n',
    );
    await writeFile(join(org, 'notes.yaml'), 'just some prose\n');
    const { code, stdout, stderr } = await looprail('validate', org);
    expect(code).toBe(1);
    const lines = stdout.trim().split('\n');
    expect(lines.filter((line) => /^\S+\.yaml:\d+:\d+: /.test(line))).toEqual([
      `${org}/broken.yaml:2:9: agent.name: expected a name of lower-case letters, digits and hyphens, starting with a letter (at most 63 characters)`,
      `${org}/broken.yaml:5:14: agent.harness.max_step: unknown key "max_step" (did you mean "max_steps"?)`,
      `${org}/morning-triage-loop.yaml:2:9: warning: agent.name: no owner or team: the inventory will list this loop as unowned`,
      `${org}/notes.yaml:1:1: found a string at the top level; expected an agent definition with a top-level \`agent:\` key (is this a YAML file?)`,
    ]);
    expect(lines.at(-1)).toBe(`✗ ${org}: 3 problems; nothing was deployed or run`);
    expect(stdout + stderr).not.toMatch(/\n\s+at /);
  });

  it('gives machine-readable output with --json', async () => {
    const { code, stdout } = await looprail('validate', 'test/fixtures/brief-org', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { ok: boolean; agents: Array<{ name: string; tools: string[] }> };
    expect(report.ok).toBe(true);
    expect(report.agents[0]!.name).toBe('morning-triage-loop');
  });

  it('says clearly when the path does not exist', async () => {
    const { code, stdout } = await looprail('validate', 'no/such/folder');
    expect(code).toBe(1);
    expect(stdout).toContain('no/such/folder:1:1: no such file or folder');
  });
});

describe('looprail run and trace', () => {
  it("runs the product brief's definition to its stop reason with the scripted model, then shows its trace", async () => {
    const state = await tempDir();
    const ran = await looprail(
      'run',
      'morning-triage-loop',
      '--org',
      'test/fixtures/brief-org',
      '--state-dir',
      state,
      '--json',
    );
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    const result = JSON.parse(ran.stdout) as {
      runId: string;
      stopReason: string;
      trace: Array<{ kind: string; name: string; status: string; scripted?: boolean }>;
    };
    expect(result.stopReason).toBe('completed');
    expect(result.trace.filter((e) => e.kind === 'tool_call').map((e) => [e.name, e.status])).toEqual([
      // Deferred loading: the schemas enter the context only when the model asks for them.
      ['looprail.load_tools', 'ok'],
      ['looprail.load_tools', 'ok'],
      ['looprail.load_tools', 'ok'],
      ['ci.read_text_file', 'ok'],
      ['github.search_nodes', 'ok'],
      ['linear.echo', 'ok'],
    ]);
    expect(result.trace.filter((e) => e.kind === 'model_call').every((e) => e.scripted)).toBe(true);

    const shown = await looprail('trace', result.runId, '--state-dir', state);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`▶ morning-triage-loop · run ${result.runId}`);
    expect(shown.stdout).toMatch(/model\s+claude-sonnet-4-6 \[scripted\]/);
    expect(shown.stdout).toContain('■ completed');
  }, 240_000);

  it('refuses an unknown agent and bad input with one clear line', async () => {
    const state = await tempDir();
    const unknown = await looprail('run', 'nobody', '--org', 'test/fixtures/brief-org', '--state-dir', state);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('looprail: unknown agent "nobody" (known: morning-triage-loop)');
    const badInput = await looprail(
      'run',
      'morning-triage-loop',
      '--org',
      'test/fixtures/brief-org',
      '--state-dir',
      state,
      '--input',
      '{oops',
    );
    expect(badInput.code).toBe(1);
    expect(badInput.stderr).toMatch(/^looprail: --input is not valid JSON: /);
  }, 240_000);
});

describe('looprail pin and inventory', () => {
  it('pins every declared tool in the server files, keeping their comments, and validate still passes', async () => {
    const org = await tempDir();
    await cp('test/fixtures/brief-org', org, { recursive: true });
    const state = await tempDir();
    const pinned = await looprail('pin', '--org', org, '--state-dir', state);
    expect(pinned.code).toBe(0);
    expect(pinned.stdout).toContain('✓ ci: 2 tools pinned (2 updated: ');
    expect(pinned.stdout).toContain('declared but not offered by the server: merge_pr');
    expect(pinned.stdout).toMatch(/offered but not declared \(denied to every agent\): .*write_file/);
    const { readFile } = await import('node:fs/promises');
    const ci = await readFile(join(org, 'mcp-servers/ci.yaml'), 'utf8');
    expect(ci).toMatch(/list_directory: \{ read_only: true, pin: sha256:[0-9a-f]{16} \}/);
    expect(ci).toContain('description: Stand-in for CI');
    const again = await looprail('pin', '--org', org, '--state-dir', state);
    expect(again.stdout).toContain('✓ ci: 2 tools pinned\n');
    expect((await looprail('validate', org)).code).toBe(0);
  }, 120_000);

  it('lists what each agent can touch', async () => {
    const text = await looprail('inventory');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      'morning-triage — noor@example.com · team platform · schedule cron(0 6 ? * MON-FRI *) Europe/Paris',
    );
    expect(text.stdout).toMatch(
      /team-memory\.create_relations\s+write · pauses for approval: the agent's approval rule "team-memory\.create_relations"/,
    );
    const json = JSON.parse(
      (await looprail('inventory', '--org', 'test/fixtures/brief-org', '--json')).stdout,
    ) as Array<{ agent: string; tools: Array<{ tool: string; destructive: boolean; approval?: string[] }> }>;
    const merge = json[0]!.tools.find((tool) => tool.tool === 'github.merge_pr')!;
    expect(merge.destructive).toBe(true);
    expect(merge.approval).toEqual([
      'github.merge_pr is flagged destructive in its server declaration',
      'the agent\'s approval rule "merge_pr"',
    ]);
  });
});

describe('looprail lock', () => {
  it('locks versioned instructions; a file changed under its version is then refused until it gets a new one', async () => {
    const org = await tempDir();
    await cp('test/fixtures/brief-org', org, { recursive: true });
    // The agent pins a skill: publish it to a local registry first, which lock resolves the pin against.
    const state = await tempDir();
    const published = await looprail(
      'skills',
      'publish',
      join(org, 'skills/ci-triage-runbook'),
      '--org',
      org,
      '--state-dir',
      state,
    );
    expect(published.stdout).toMatch(
      /^✓ published ci-triage-runbook@2\.0\.0 \(1 file, sha256:[0-9a-f]{64}\) as local:/,
    );
    const locked = await looprail('lock', '--org', org, '--state-dir', state);
    expect(locked.code).toBe(0);
    expect(locked.stdout).toContain('✓ looprail.lock.yaml: 1 versioned file(s) in use, 1 newly locked (triage.md@v4)');
    expect(locked.stdout).toContain('✓ skill ci-triage-runbook@v2 → 2.0.0');
    expect((await looprail('validate', org)).code).toBe(0);

    const { appendFile, readFile: read, writeFile: write } = await import('node:fs/promises');
    await appendFile(join(org, 'triage.md'), 'A quiet edit.\n');
    const refused = await looprail('validate', org);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('agent.instructions: triage.md changed since version v4 was locked');
    expect((await looprail('lock', '--org', org, '--state-dir', state)).stdout).toContain(
      '✗ triage.md@v4 changed since it was locked',
    );

    // The fix: a new version, pinned in the agent, then locked.
    await write(
      join(org, 'triage.md'),
      (await read(join(org, 'triage.md'), 'utf8')).replace('version: v4', 'version: v5'),
    );
    await write(
      join(org, 'morning-triage-loop.yaml'),
      (await read(join(org, 'morning-triage-loop.yaml'), 'utf8')).replace('./triage.md@v4', './triage.md@v5'),
    );
    expect((await looprail('lock', '--org', org, '--state-dir', state)).code).toBe(0);
    expect((await looprail('validate', org)).code).toBe(0);
  }, 180_000);
});
