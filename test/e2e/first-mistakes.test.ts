import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { looprailCli } from '../support/looprail-cli.ts';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunDeps } from '../../core/run/deps.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import { testHost } from '../support/local-host.ts';

/**
 * The mistakes a first agent makes, each surfacing where the person is looking, with the fix:
 * a script calling a tool refused or not loaded (the run's summary and exit status say so), a
 * misspelled server command (refused before anything starts, or at run time failed at once as a
 * configuration error, never retried as an outage), an org run from inside its own folder.
 */

const ROOT = process.cwd();
const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-mistakes-'));
  temps.push(dir);
  return dir;
}

const looprail = (args: string[], cwd = ROOT) => looprailCli(args, { cwd });

/** An org folder of one agent with the given server file and script, written under `dir`. */
async function writeOrg(dir: string, server: string, script: string, grant = 'everything'): Promise<string> {
  const org = join(dir, 'org');
  await mkdir(join(org, 'mcp-servers'), { recursive: true });
  await mkdir(join(org, 'scripts'), { recursive: true });
  await writeFile(
    join(org, 'models.yaml'),
    'models:\n  s-first: { provider: scripted, script: scripts/first.yaml, price: { input_per_mtok: 3, output_per_mtok: 15 } }\n',
  );
  await writeFile(join(org, 'instructions.md'), 'Echo what you are asked to.\n');
  await writeFile(
    join(org, 'first.yaml'),
    `agent:\n  name: first\n  owner: me@example.com\n  model: s-first\n  instructions: ./instructions.md@v1\n  mcp_servers: [${grant}]\n`,
  );
  await writeFile(
    join(
      org,
      'mcp-servers',
      server
        .split('\n', 1)[0]!
        .replace(/^name: /, '')
        .concat('.yaml'),
    ),
    server,
  );
  await writeFile(join(org, 'scripts', 'first.yaml'), script);
  return org;
}

/** The reference server, deferred (the default), two tools declared. */
const EVERYTHING = [
  'name: everything',
  'transport: { type: stdio, command: mcp-server-everything, args: [stdio] }',
  'tools:',
  '  echo: {}',
  '  get-sum: { read_only: true }',
  '',
].join('\n');

describe('a run whose script calls tools it may not, or has not loaded', () => {
  it("completes, lists the refused and failed calls with the answer and validate's warnings at their lines, and exits 3", async () => {
    const org = await writeOrg(
      await tempDir(),
      EVERYTHING,
      [
        'turns:',
        '  - tool_calls:',
        '      - { tool: looprail__load_tools, arguments: { server: everything, tools: [echo] } }',
        '      - { tool: everything__get-sum, arguments: { a: 1, b: 2 } }',
        '  - tool_calls:',
        '      - { tool: everything.echo, arguments: { message: hello } }',
        '      - { tool: everything.get-env, arguments: {} }',
        '  - text: Echoed hello.',
        '',
      ].join('\n'),
    );
    const stateDir = join(org, '..', 'state');
    const { code, stdout, stderr } = await looprail(['run', 'first', '--org', org, '--state-dir', stateDir]);
    expect(stderr).toContain(
      `${org}/scripts/first.yaml:4:17: warning: turns[0].tool_calls[1].tool: agent "first": everything.get-sum is not loaded yet at turn 1`,
    );
    expect(stderr).toContain(
      `${org}/scripts/first.yaml:7:17: warning: turns[1].tool_calls[1].tool: agent "first": "everything.get-env" is not a tool of everything`,
    );
    expect(stdout).toContain('■ completed');
    // The dotted name is the same tool: the call was made.
    expect(stdout).toMatch(/tool {5}everything\.echo +\d+ ms {2}ok/);
    expect(stdout).toContain(
      '  1 tool call refused:\n    everything.get-env: refused: "everything.get-env" is not a tool this agent may use',
    );
    expect(stdout).toContain('  1 tool call failed:\n    everything.get-sum: everything.get-sum is not loaded yet');
    expect(stdout).toContain('\nAnswer:\n  Echoed hello.');
    expect(code).toBe(3);

    const runId = /run (\S+) ·/.exec(stdout)![1]!;
    const trace = await looprail(['trace', runId, '--state-dir', stateDir]);
    expect(trace.stdout).toContain('  1 tool call refused:');
    expect(trace.stdout).toContain('\nAnswer:\n  Echoed hello.');
    const runs = await looprail(['runs', '--state-dir', stateDir]);
    const [header, row] = runs.stdout.trim().split('\n');
    expect(header).toMatch(/^CREATED +RUN +AGENT +OUTCOME +TOKENS +COST$/);
    expect(row).toContain(`${runId}  first`);
  }, 240_000);
});

describe('a misspelled MCP server command', () => {
  it('is refused before anything starts, in well under 5 s, naming the bin it meant', async () => {
    const dir = await tempDir();
    const org = await writeOrg(
      dir,
      EVERYTHING.replace('mcp-server-everything', 'mcp-server-everythng'),
      'turns:\n  - text: never played\n',
    );
    // What the command needs to start on this machine (loading its modules), measured apart:
    // a loaded test machine takes seconds of it, and the refusal must add next to nothing.
    let started = Date.now();
    await looprail(['--version']);
    const startup = Date.now() - started;
    started = Date.now();
    const { code, stdout, stderr } = await looprail(['run', 'first', '--org', org, '--state-dir', join(dir, 'state')]);
    expect(Date.now() - started - startup).toBeLessThan(5_000);
    expect(code).toBe(1);
    expect(stdout + stderr).toContain(
      `${org}/mcp-servers/everything.yaml:2:36: transport.command: "mcp-server-everythng" is not installed: did you mean "mcp-server-everything"?`,
    );
    // Refused before the local database or any server started: no state was made.
    expect(existsSync(join(dir, 'state'))).toBe(false);
  }, 60_000);

  it('that goes missing after validation fails the run at once as a configuration error with the fix, never retried', async () => {
    const project = await tempDir();
    const server = join(project, 'gone-server.js');
    await writeFile(server, '// replaced before the run: its absence is the point\n');
    const org = await writeOrg(
      project,
      ['name: gone', 'transport: { type: stdio, command: ./gone-server.js }', 'tools:', '  echo: {}', ''].join('\n'),
      'turns:\n  - text: never played\n',
      'gone',
    );
    const listed: string[] = [];
    const counting = (tools: ToolGateway): ToolGateway => ({
      listTools: (declaration) => {
        listed.push(declaration.name);
        return tools.listTools(declaration);
      },
      callTool: (...args) => tools.callTool(...args),
      close: () => tools.close(),
    });
    // The state machine's own retry intervals (not the tests' zero), so a retried outage would show in the time.
    const host = await testHost(org, {
      projectRoot: project,
      retryIntervalMs: undefined,
      wrapDeps: (deps: RunDeps) => ({
        ...deps,
        tools: counting(deps.tools),
        scopeFor:
          deps.scopeFor &&
          ((identity, runId) => {
            const scope = deps.scopeFor!(identity, runId);
            return { ...scope, tools: counting(scope.tools) };
          }),
      }),
    });
    try {
      await unlink(server);
      const started = Date.now();
      const result = await host.run({ agent: 'first', input: {} });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(result.meta.status).toBe('failed');
      expect(result.meta.stopReason).toBe('error');
      expect(result.meta.stopDetail).toContain(
        'looprail.ConfigurationError: MCP server "gone": could not start "./gone-server.js"',
      );
      expect(result.meta.stopDetail).toContain('ENOENT');
      expect(result.meta.stopDetail).toContain('Fix transport.command (or cwd) in mcp-servers/gone.yaml');
      expect(listed).toEqual(['gone']);
    } finally {
      await host.close();
    }
  });
});

describe('an org run from inside its own folder', () => {
  it('`looprail run --org .` in agents/ finds its servers and their files as from the project root', async () => {
    const stateDir = await tempDir();
    const agents = resolve(ROOT, 'agents');
    const { code, stdout } = await looprail(
      ['run', 'morning-triage', '--org', '.', '--state-dir', stateDir, '--input', '{"repo":"acme/shop"}', '--json'],
      agents,
    );
    const run = JSON.parse(stdout) as {
      stopReason: string;
      answer: string;
      refusedCalls: unknown[];
      failedCalls: unknown[];
      trace: Array<{ kind: string; name: string; status: string }>;
    };
    expect(run.stopReason).toBe('verified');
    // ci-reports is rooted at `agents/demo/ci-reports`, relative to the project.
    expect(
      run.trace.filter((event) => event.name === 'ci-reports.read_text_file').map((event) => event.status),
    ).toEqual(['ok', 'ok']);
    expect(run.refusedCalls).toEqual([]);
    expect(run.failedCalls).toEqual([]);
    expect(run.answer).toContain('Triage updated: both failures now name their owners');
    expect(code).toBe(0);
  }, 240_000);
});

describe('the CLI at a glance', () => {
  it('prints its version, and fails validate of a folder with no agents in it', async () => {
    const version = await looprail(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const empty = await tempDir();
    const { code, stdout } = await looprail(['validate', empty]);
    expect(code).toBe(1);
    expect(stdout).toContain(`✗ ${empty}: no agent definitions found`);
  }, 120_000);
});
