import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatProblem, loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { resolveStdioProgram, type StdioSpec } from '../../adapters/mcp/stdio-program.ts';

/**
 * What a stdio server may run so the stack can host it in a Lambda: a Node package's bin or
 * a .js/.mjs file of the project; validate refuses anything else at `transport.command`,
 * naming the server, the agents that use it and what to do.
 */

const ROOT = join(import.meta.dirname, '../..');
const stdio = (command: string, args: string[] = []): StdioSpec => ({
  type: 'stdio',
  command,
  args,
  env: {},
  env_secrets: {},
});

describe('resolveStdioProgram', () => {
  it("finds an installed package's bin as its JavaScript entry", () => {
    const resolved = resolveStdioProgram(ROOT, stdio('mcp-server-memory', ['--flag']));
    expect(resolved).toEqual({
      ok: true,
      program: {
        entry: realpathSync(join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js')),
        args: ['--flag'],
        source: 'mcp-server-memory (@modelcontextprotocol/server-memory)',
      },
    });
  });

  it('takes `node <file of the project>` and a path to a .mjs file of the project', () => {
    const script = 'test/fixtures/faults-org/counter-server.mjs';
    expect(resolveStdioProgram(ROOT, stdio('node', [script, 'x']))).toMatchObject({
      ok: true,
      program: { entry: join(ROOT, script), args: ['x'], source: script },
    });
    expect(resolveStdioProgram(ROOT, stdio(`./${script}`))).toMatchObject({ ok: true, program: { args: [] } });
  });

  it('says why anything else cannot be hosted', () => {
    const reasons = [
      stdio('mcp-server-filesystm'),
      stdio('uvx', ['mcp-server-git']),
      stdio('node', ['-e', 'console.log(1)']),
      stdio('node', ['test/fixtures/nowhere.mjs']),
      stdio('node', ['/etc/passwd.js']),
      stdio('./bin/looprail.sh'),
      stdio('${LOOPRAIL_STATE_DIR}/server'),
    ].map((spec) => {
      const resolved = resolveStdioProgram(ROOT, spec);
      return resolved.ok ? 'hosted' : resolved.reason;
    });
    expect(reasons).toEqual([
      '"mcp-server-filesystm" is not a bin of an installed Node package',
      '"uvx" is not a bin of an installed Node package',
      '`node` is hosted only with a .js or .mjs file of the project as its first argument',
      '"test/fixtures/nowhere.mjs" is not a file inside the project',
      '"/etc/passwd.js" is not a file inside the project',
      '"./bin/looprail.sh" is not a .js or .mjs file inside the project',
      '"${LOOPRAIL_STATE_DIR}/server" is built from a placeholder',
    ]);
  });
});

describe('validate refuses a stdio server the stack cannot host', () => {
  let org: string;
  beforeAll(async () => {
    org = await mkdtemp(join(tmpdir(), 'looprail-hosting-'));
    await cp(join(ROOT, 'agents'), org, { recursive: true });
  });
  afterAll(() => rm(org, { recursive: true, force: true }));

  it('at the line of transport.command, naming the server, its agents and the fix', async () => {
    const file = join(org, 'mcp-servers/ci-reports.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('mcp-server-filesystem', 'mcp-server-filesystm'));
    const { catalog, problems } = await loadOrgFolder(org, ROOT);
    expect(catalog).toBeUndefined();
    expect(problems.filter((problem) => problem.severity === 'error').map(formatProblem)).toEqual([
      `${file}:9:12: transport.command: "mcp-server-filesystm" is not installed: did you mean "mcp-server-filesystem"? ` +
        'server "ci-reports" cannot run on AWS: "mcp-server-filesystm" is not a bin of an installed Node package, ' +
        'and each stdio server is bundled into its own Lambda from an installed Node package (node_modules/.bin) or a .js/.mjs file of the project; ' +
        'used by agent morning-triage, agent morning-triage.triage-reviewer. ' +
        'Install the npm package that provides it (npm install <package>, then name its bin), or declare the server as `transport: { type: http, url }`',
    ]);
  });

  it('also when no agent uses the server yet, and not for an http server', async () => {
    await writeFile(
      join(org, 'mcp-servers/git.yaml'),
      'name: git\ntransport:\n  type: stdio\n  command: uvx\n  args: [mcp-server-git]\ntools: {}\n',
    );
    await writeFile(
      join(org, 'mcp-servers/remote.yaml'),
      'name: remote\ntransport: { type: http, url: "https://mcp.example.com/mcp" }\ntools: {}\n',
    );
    const { problems } = await loadOrgFolder(org, ROOT);
    const git = problems.find((problem) => problem.file.endsWith('git.yaml'))!;
    expect(formatProblem(git)).toMatch(
      /git\.yaml:4:12: transport\.command: server "git" cannot run on AWS: "uvx" is not a bin .*; no agent uses it yet\. Install/,
    );
    expect(problems.some((problem) => problem.file.endsWith('remote.yaml'))).toBe(false);
  });

  it('refuses a cwd that is not a folder of the project: the server could not start there', async () => {
    await writeFile(
      join(org, 'mcp-servers/elsewhere.yaml'),
      'name: elsewhere\ntransport:\n  type: stdio\n  command: mcp-server-memory\n  cwd: agents/no-such-folder\ntools: {}\n',
    );
    const { problems } = await loadOrgFolder(org, ROOT);
    expect(problems.filter((problem) => problem.file.endsWith('elsewhere.yaml')).map(formatProblem)).toEqual([
      `${join(org, 'mcp-servers/elsewhere.yaml')}:5:8: transport.cwd: server "elsewhere" starts in "agents/no-such-folder", which is not a folder (relative to the project, ${ROOT}): fix the path or leave cwd out`,
    ]);
  });
});
