import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { initCommand, newAgentCommand } from '../../cli/commands/scaffold.ts';
import { looprailCli } from '../support/looprail-cli.ts';

/**
 * `looprail init` and `looprail new agent` as a person runs them: the org they write validates
 * with no warning and its agents run to `verified` at once (scripts that load their deferred
 * tools and call them by the names models use, instructions already locked, servers listed and
 * pinned); every mistake says what was expected and leaves the folder as it was.
 */

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-scaffold-'));
  temps.push(dir);
  return dir;
}

// Each CLI start loads the org and, for a run, DynamoDB Local: minutes on a loaded two-core machine.
const TIMEOUT = 600_000;

/** Every file under `dir` with its text: what "nothing was written" is checked against. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(dir, path)] = await readFile(path, 'utf8');
  }
  return files;
}

describe('looprail init, then looprail new agent', () => {
  it(
    'writes an org whose agents validate without a warning and run to verified',
    async () => {
      const dir = await tempDir();
      const org = join(dir, 'my-org');
      const state = ['--state-dir', join(dir, 'state')];
      const init = await looprailCli(['init', org, '--owner', 'noor@example.com', ...state]);
      expect(init.stderr).toBe('');
      expect(init.code).toBe(0);
      expect(init.stdout).toContain(
        'a new org folder with agent hello, checked by hello-checker, on the memory server',
      );

      const added = await looprailCli(['new', 'agent', 'reader', '--org', org, '--server', 'filesystem', ...state]);
      expect(added.stderr).toBe('');
      expect(added.code).toBe(0);

      const files = await snapshot(org);
      expect(Object.keys(files).sort()).toEqual([
        'budgets.yaml',
        'files/welcome.txt',
        'hello.yaml',
        'instructions/hello-checker.md',
        'instructions/hello.md',
        'instructions/reader-checker.md',
        'instructions/reader.md',
        'looprail.lock.yaml',
        'mcp-servers/filesystem.yaml',
        'mcp-servers/memory.yaml',
        'models.yaml',
        'reader.yaml',
        'scripts/hello-checker.yaml',
        'scripts/hello.yaml',
        'scripts/reader-checker.yaml',
        'scripts/reader.yaml',
        'secrets.yaml',
      ]);
      // Each YAML file a person edits names its JSON Schema, relative to the org's .schemas/.
      expect(files['hello.yaml']!.split('\n')[0]).toBe('# yaml-language-server: $schema=./.schemas/agent.schema.json');
      expect(files['scripts/hello.yaml']!.split('\n')[0]).toBe(
        '# yaml-language-server: $schema=../.schemas/script.schema.json',
      );
      expect(files['mcp-servers/memory.yaml']).toContain(
        '# yaml-language-server: $schema=../.schemas/mcp-server.schema.json',
      );
      // The server's tools as it listed them, pinned, with its own flags.
      expect(files['mcp-servers/memory.yaml']).toMatch(
        /\n {2}open_nodes: \{ read_only: true, pin: sha256:[0-9a-f]{16} \}/,
      );
      expect(files['mcp-servers/memory.yaml']).toMatch(/\n {2}delete_entities: \{ destructive: true, pin: sha256:/);
      // Loaded first (tools are deferred), then called as models call them.
      expect(files['scripts/hello.yaml']).toMatch(/tool: looprail__load_tools[\s\S]*tool: memory__create_entities/);
      expect(files['looprail.lock.yaml']).toMatch(/instructions\/reader\.md@v1: sha256:[0-9a-f]{64}/);
      expect(files['looprail.lock.yaml']).toMatch(/instructions\/hello-checker\.md@v1: sha256:[0-9a-f]{64}/);
      expect(files['hello.yaml']).toContain('owner: "noor@example.com"');
      expect(files['reader.yaml']).toContain('team: my-team');

      const validated = await looprailCli(['validate', org]);
      expect(validated.code).toBe(0);
      expect(validated.stdout).not.toMatch(/warning/i);
      expect(validated.stdout).toMatch(/✓ hello \(.*\): model scripted-hello \(scripted\)/);
      expect(validated.stdout).toMatch(/✓ reader \(.*\): model scripted-reader \(scripted\)/);

      for (const agent of ['hello', 'reader']) {
        const run = await looprailCli(['run', agent, '--org', org, ...state]);
        expect(run.stdout).toContain('■ verified — the checker passed attempt 1');
        expect(run.stdout).not.toContain('refused');
        expect(run.code).toBe(0);
      }
    },
    TIMEOUT,
  );
});

describe('mistakes', () => {
  it(
    'an agent name taken or malformed, an unknown server or model, a folder that is no org: each says so, nothing is written',
    async () => {
      const dir = await tempDir();
      const org = join(dir, 'org');
      const state = ['--state-dir', join(dir, 'state')];
      expect((await looprailCli(['init', org, '--agent', 'notes', ...state])).code).toBe(0);
      const before = await snapshot(org);
      const attempts: Array<[string[], string]> = [
        [['notes'], 'agent "notes" already exists'],
        [['Notes_2'], 'agent name "Notes_2": expected lower-case letters, digits and hyphens, starting with a letter'],
        [['a'.repeat(41)], 'at most 40 characters'],
        [['triage', '--server', 'github'], 'unknown server "github": expected one of memory, filesystem'],
        [
          ['triage', '--model', 'gpt-9'],
          'unknown model "gpt-9": expected one models.yaml declares (claude-sonnet-4-6,',
        ],
      ];
      for (const [args, message] of attempts) {
        const result = await looprailCli(['new', 'agent', ...args, '--org', org, ...state]);
        expect(result.code, args.join(' ')).toBe(1);
        expect(result.stderr).toContain(message);
      }
      expect(await snapshot(org)).toEqual(before);

      const notOrg = await looprailCli(['new', 'agent', 'triage', '--org', dir, ...state]);
      expect(notOrg.code).toBe(1);
      expect(notOrg.stderr).toContain(`is not an org folder (it has no models.yaml): create one with \`looprail init`);
      const noName = await looprailCli(['new', 'agent', '--org', org]);
      expect(noName.stderr).toContain('an agent name is needed: looprail new agent <name>');

      const full = await looprailCli(['init', org, ...state]);
      expect(full.code).toBe(1);
      expect(full.stderr).toContain('is not empty: init makes a new org folder');
      const badInit = await looprailCli(['init', join(dir, 'other'), '--server', 'slack', ...state]);
      expect(badInit.stderr).toContain('unknown server "slack"');
      expect(await readdir(dir)).toEqual(expect.not.arrayContaining(['other']));
      expect((await readdir(dir)).filter((name) => name.startsWith('.'))).toEqual([]);
      expect(await snapshot(org)).toEqual(before);
    },
    TIMEOUT,
  );

  it(
    'an org with problems of its own is named, not written into',
    async () => {
      const dir = await tempDir();
      const org = join(dir, 'org');
      expect((await looprailCli(['init', org, '--state-dir', join(dir, 'state')])).code).toBe(0);
      await writeFile(
        join(org, 'instructions', 'hello.md'),
        '---\nversion: v1\n---\nAn edit under a locked version.\n',
      );
      const before = await snapshot(org);
      const result = await looprailCli(['new', 'agent', 'triage', '--org', org, '--state-dir', join(dir, 'state')]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('has problems of its own; fix them first (nothing was written)');
      expect(result.stderr).toContain('changed since version v1 was locked');
      expect(await snapshot(org)).toEqual(before);
    },
    TIMEOUT,
  );
});

describe('on a terminal', () => {
  /** A terminal whose answers are typed ahead, and what it was asked. */
  function terminal(answers: string[]): { input: PassThrough; output: PassThrough; asked: () => string } {
    const input = new PassThrough();
    const output = new PassThrough();
    const chunks: string[] = [];
    output.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    input.end(answers.map((answer) => `${answer}\n`).join(''));
    return { input, output, asked: () => chunks.join('') };
  }

  it(
    'asks for each choice with its default, asks again when an answer does not fit, and offers the org its team',
    async () => {
      const dir = await tempDir();
      await mkdir(join(dir, 'empty'));
      const org = join(dir, 'empty');
      const state = join(dir, 'state');
      // An agent name that does not fit, then one that does; a server; a team; Enter for the owner.
      const first = terminal(['Bad Name', 'triage', 'filesystem', 'ops', '']);
      const lines: string[] = [];
      await initCommand(org, { stateDir: state }, { log: (line) => lines.push(line), terminal: first });
      expect(first.asked()).toContain('Agent name (hello): ');
      expect(first.asked()).toContain('agent name "Bad Name": expected lower-case letters');
      expect(first.asked()).toContain('MCP server (memory, filesystem) (memory): ');
      expect(first.asked()).toContain('Team (my-team): ');
      expect(lines[0]).toContain('agent triage, checked by triage-checker, on the filesystem server');
      const definition = await readFile(join(org, 'triage.yaml'), 'utf8');
      expect(definition).toContain('team: ops');
      expect(definition).toMatch(/owner: "[^"]+"/);
      expect(definition).toContain('    - filesystem');

      // Enter for the server and the team: memory, and the org's own team.
      const second = terminal(['notes', '', '', 'me@example.com']);
      await newAgentCommand(undefined, { org, stateDir: state }, { log: () => {}, terminal: second });
      expect(second.asked()).toContain('Team (ops): ');
      const notes = await readFile(join(org, 'notes.yaml'), 'utf8');
      expect(notes).toContain('team: ops');
      expect(notes).toContain('owner: "me@example.com"');
      expect(notes).toContain('    - memory');
    },
    TIMEOUT,
  );
});
