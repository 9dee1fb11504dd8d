import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BubblewrapSandboxes } from '../../adapters/sandbox/bubblewrap.ts';
import { NODE22_ESM_BUNDLE } from '../../infra/constructs/handler-function.ts';
import { reachableNode } from '../support/sandbox-agent.ts';
import { SandboxSpec } from '../../core/definitions/sandbox.ts';
import { callSandboxTool } from '../../core/sandbox/tools.ts';
import type { ToolCallResult } from '../../core/ports/tools.ts';

/**
 * The local sandbox with real bubblewrap: what a command can do in its workspace, and
 * every escape attempt the issue names — each contained, reported to the model as a
 * failed tool call, the host unharmed.
 */

let root: string;
let orgDir: string;
let hostDir: string;
let secretsFile: string;
let fakeKey: string;
let provider: BubblewrapSandboxes;
let sandboxCount = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'looprail-sandbox-test-'));
  // The sandbox's own user must be able to pass through to its workspace (as it can through /tmp).
  await chmod(root, 0o711);
  orgDir = join(root, 'org');
  // Stands in for the project: a `.looprail/` with a local secrets file holding a key-shaped value.
  hostDir = join(root, 'project');
  await mkdir(join(hostDir, '.looprail'), { recursive: true });
  fakeKey = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
  secretsFile = join(hostDir, '.looprail', 'secrets.json');
  await writeFile(secretsFile, JSON.stringify({ 'github-token': fakeKey }));
  await mkdir(join(orgDir, 'repos', 'calc', 'src'), { recursive: true });
  await writeFile(join(orgDir, 'repos', 'calc', 'src', 'add.js'), 'module.exports = (a, b) => a - b;\n');
  await writeFile(join(orgDir, 'repos', 'calc', 'README.md'), '# calc\n');
  provider = new BubblewrapSandboxes({ root: join(root, 'sandboxes'), orgDir });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function spec(overrides: Record<string, unknown> = {}): SandboxSpec {
  return SandboxSpec.parse({ command_timeout_seconds: 20, ...overrides });
}

/** A fresh sandbox, and a caller of its tools as the run's tool step calls them. */
function sandbox(overrides: Record<string, unknown> = {}, input: unknown = {}) {
  const sandboxId = `r-test-${++sandboxCount}`;
  const s = spec(overrides);
  const call = (tool: string, args: Record<string, unknown>): Promise<ToolCallResult> =>
    callSandboxTool(
      {
        open: () => provider.open({ sandboxId, agent: 'coder', spec: s, input }),
        spec: s,
        pricePerHourMicros: 3_600_000,
      },
      tool,
      args,
    );
  return {
    sandboxId,
    call,
    exec: (command: string, extra: Record<string, unknown> = {}) => call('exec', { command, ...extra }),
  };
}

/** Live processes on the host running as the sandbox's own uid: none may outlive a call (zombies wait for the host's init to reap them). */
async function processesOf(sandboxId: string): Promise<number> {
  const state = JSON.parse(await readFile(join(root, 'sandboxes', sandboxId, 'sandbox.json'), 'utf8')) as {
    uid: number;
  };
  let count = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^Uid:\\s+${state.uid}\\b`, 'm').test(status) && !/^State:\s+Z/m.test(status)) count += 1;
  }
  return count;
}

describe('the workspace and its tools', () => {
  it('runs commands in the workspace, writes, reads, lists and diffs against what was copied in', async () => {
    const { call, exec } = sandbox(
      {
        copy_in: { repository: { path: 'repos/calc' }, files: [{ path: 'task/issue.txt', from_input: 'issue.body' }] },
      },
      { issue: { body: 'add() subtracts' } },
    );
    const listed = await call('list_files', {});
    expect(listed).toMatchObject({ isError: false });
    expect(listed.content.split('\n')).toEqual(['README.md', 'src/', 'src/add.js', 'task/', 'task/issue.txt']);
    expect((await call('read_file', { path: 'task/issue.txt' })).content).toBe('add() subtracts');
    expect(await call('diff', {})).toMatchObject({ content: '(no changes since copy-in)', isError: false });

    const ran = await exec('pwd && id -u && node -e "console.log(require(\'./src/add.js\')(2, 3))"');
    expect(ran.isError).toBe(false);
    expect(ran.content).toMatch(/^exit code 0/);
    expect(ran.content).toContain('/workspace\n1000\n-1\n');
    expect(ran.sandbox).toMatchObject({ command: expect.stringContaining('pwd'), exitCode: 0 });
    expect(ran.costMicros).toBe(ran.sandbox!.durationMs);

    expect(
      await call('write_file', { path: 'src/add.js', content: 'module.exports = (a, b) => a + b;\n' }),
    ).toMatchObject({ isError: false, content: 'wrote 34 bytes to src/add.js' });
    await exec('echo note > NOTES.md && rm README.md');
    const diff = await call('diff', {});
    expect(diff.content).toContain('-module.exports = (a, b) => a - b;\n+module.exports = (a, b) => a + b;');
    expect(diff.content).toContain('new file mode');
    expect(diff.content).toContain('deleted file mode');
    expect(diff.content).toContain('+note');

    const failing = await exec('exit 3');
    expect(failing).toMatchObject({ isError: true, sandbox: { exitCode: 3 } });
    expect(failing.content).toMatch(/^exit code 3/);
  });

  it('refuses paths outside the workspace in the tools themselves, and bad arguments, without running anything', async () => {
    const { call } = sandbox();
    for (const [tool, args] of [
      ['read_file', { path: '/etc/passwd' }],
      ['read_file', { path: '../../etc/passwd' }],
      ['write_file', { path: '../x', content: 'x' }],
      ['exec', { command: 'ls', cwd: '/' }],
      ['exec', { command: '' }],
      ['list_files', { path: 'a/../../..' }],
    ] as const) {
      const result = await call(tool, args);
      expect(result.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
      expect(result.content).toMatch(/^invalid arguments for sandbox\./);
    }
    expect((await call('read_file', { path: 'missing.txt' })).content).toContain('no such file: missing.txt');
    expect((await call('nope', {})).content).toBe('the sandbox has no tool "nope"');
    expect((await call('constructor', {})).content).toBe('the sandbox has no tool "constructor"');
  });

  it('keeps the workspace for the run and removes it when the run is destroyed', async () => {
    const { sandboxId, exec } = sandbox();
    await exec('echo kept > kept.txt');
    expect((await exec('cat kept.txt')).content).toContain('kept');
    const dir = join(root, 'sandboxes', sandboxId);
    expect(existsSync(dir)).toBe(true);
    await provider.destroy(sandboxId);
    expect(existsSync(dir)).toBe(false);
    await provider.destroy(sandboxId); // nothing left: still fine
  });

  it('sweeps the sandboxes of runs that ended without removing theirs, and only those', async () => {
    const ended = sandbox();
    const running = sandbox();
    await ended.exec('true');
    await running.exec('true');
    // A host that restarts knows nothing of them but what is on disk.
    const restarted = new BubblewrapSandboxes({ root: join(root, 'sandboxes'), orgDir });
    const asked: string[] = [];
    const removed = await restarted.sweep(async (id) => {
      asked.push(id);
      return id === ended.sandboxId;
    });
    expect(removed).toEqual([ended.sandboxId]);
    expect(asked).toContain(running.sandboxId);
    expect(existsSync(join(root, 'sandboxes', ended.sandboxId))).toBe(false);
    expect(existsSync(join(root, 'sandboxes', running.sandboxId))).toBe(true);
    // The one still running goes on where it was, from the restarted host: same workspace, same starting point.
    await running.exec('echo resumed > r.txt');
    const again = await restarted.open({ sandboxId: running.sandboxId, agent: 'coder', spec: spec(), input: {} });
    expect((await again.diff(10_000)).value.content).toContain('+resumed');
  });

  it('meters sandbox time and refuses commands once run_timeout_seconds is used up', async () => {
    const { exec } = sandbox({ run_timeout_seconds: 2 });
    const first = await exec('sleep 5', { timeout_seconds: 5 });
    expect(first).toMatchObject({ isError: true, sandbox: { timedOut: true } });
    expect(first.content).toContain('killed: the command ran longer than its 2 s timeout');
    const second = await exec('echo more');
    expect(second.isError).toBe(true);
    expect(second.content).toBe('not run: this run has used its sandbox time (run_timeout_seconds: 2)');
  });
});

describe('escape attempts, each contained and reported as a failed tool call', () => {
  it('cannot read the local secrets file, the host home or the project', async () => {
    const { exec, call } = sandbox();
    for (const command of [
      `cat ${secretsFile}`,
      `ls ${hostDir}`,
      `ls ${homedir()}`,
      `ls ${process.cwd()}`,
      'cat /etc/shadow',
      `ls ${join(process.cwd(), '.looprail')}`,
    ]) {
      const result = await exec(command);
      expect(result.isError, command).toBe(true);
      expect(result.content).toMatch(/No such file or directory/);
      expect(result.content).not.toContain(fakeKey);
    }
    // Nor through a symlink the model plants for looprail's own read_file to follow.
    await exec(`ln -s ${secretsFile} leak.json`);
    const read = await call('read_file', { path: 'leak.json' });
    expect(read.isError).toBe(true);
    expect(read.content).not.toContain(fakeKey);
    // The environment holds nothing of the host's.
    const env = await exec('env');
    expect(env.content).not.toContain(fakeKey);
    expect(
      env.content
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => line.split('=')[0])
        .sort(),
    ).toEqual(
      [
        'GIT_AUTHOR_EMAIL',
        'GIT_AUTHOR_NAME',
        'GIT_COMMITTER_EMAIL',
        'GIT_COMMITTER_NAME',
        'GIT_CONFIG_NOSYSTEM',
        'GIT_TERMINAL_PROMPT',
        'HOME',
        'LANG',
        'PATH',
        'PWD',
        'TMPDIR',
        'USER',
      ].sort(),
    );
  });

  describe('with network: none', () => {
    let server: Server;
    let port: number;
    let connections = 0;
    beforeAll(async () => {
      server = createServer((socket) => {
        connections += 1;
        socket.end('hello from the host\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('cannot reach a listener on the host at 127.0.0.1', async () => {
      const { exec } = sandbox();
      const result = await exec(
        `node -e "require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(7) })"`,
      );
      expect(result.isError).toBe(true);
      expect(result.content).toContain('ECONNREFUSED');
      expect(result.content).not.toContain('CONNECTED');
      expect(connections).toBe(0);
    });

    it('cannot reach another host, by address or by name', async () => {
      const { exec } = sandbox();
      const byAddress = await exec(
        `node -e "require('net').connect(53, '1.1.1.1').on('connect', () => { console.log('CONNECTED'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(7) })"`,
      );
      expect(byAddress.isError).toBe(true);
      expect(byAddress.content).toMatch(/ENETUNREACH|EHOSTUNREACH/);
      const byName = await exec(
        `node -e "require('dns').lookup('registry.npmjs.org', (e) => { console.log(e ? e.code : 'RESOLVED'); process.exit(e ? 7 : 0) })"`,
      );
      expect(byName.isError).toBe(true);
      expect(byName.content).not.toContain('RESOLVED');
    });
  });

  it('cannot write outside the workspace; its /tmp is its own', async () => {
    const { exec } = sandbox();
    const marker = `looprail-escape-${Date.now()}`;
    for (const target of [
      `/usr/${marker}`,
      `/etc/${marker}`,
      `/${marker}`,
      join(hostDir, marker),
      join(root, marker),
    ]) {
      const result = await exec(`echo pwned > ${target}`);
      expect(result.isError, target).toBe(true);
      expect(existsSync(target)).toBe(false);
    }
    expect((await exec(`echo ok > /tmp/${marker} && cat /tmp/${marker}`)).isError).toBe(false);
    expect(existsSync(join('/tmp', marker))).toBe(false);
  });

  it('contains a fork bomb: the process limit holds, the timeout kills it, nothing is left running', async () => {
    const { sandboxId, exec } = sandbox({ max_processes: 32 });
    const bomb = await exec('bomb() { bomb | bomb & }; bomb; sleep 30', { timeout_seconds: 3 });
    expect(bomb.isError).toBe(true);
    // Either the limit starves the script itself (it cannot fork its sleep) or the timeout kills the lot.
    expect(bomb.sandbox!.timedOut === true || /Cannot fork|Resource temporarily unavailable/.test(bomb.content)).toBe(
      true,
    );
    expect(await processesOf(sandboxId)).toBe(0);
    // The host still forks, and the sandbox still works.
    expect(execFileSync('/bin/echo', ['host ok']).toString()).toBe('host ok\n');
    expect((await exec('echo still ok')).content).toContain('still ok');
  });

  it('keeps a flood of output to max_output_bytes and kills a command that prints gigabytes', async () => {
    const { exec } = sandbox({ max_output_bytes: 1000 });
    const some = await exec('seq 1 100000');
    expect(some.isError).toBe(false);
    expect(some.content).toContain('[… output cut: 588895 bytes in all, 1000 kept]');
    expect(some.content.length).toBeLessThan(1200);
    const flood = await exec('head -c 4000000000 /dev/zero', { timeout_seconds: 60 });
    expect(flood.isError).toBe(true);
    expect(flood.content).toMatch(
      /^killed: the command printed more than \d+ bytes, far beyond max_output_bytes \(1000\)/,
    );
    expect(flood.sandbox!.outputBytes).toBeLessThan(100 * 1024 * 1024);
    expect(flood.content.length).toBeLessThan(1300);
  });

  it('kills a command that outlives its timeout, with everything it started in the background', async () => {
    const { sandboxId, exec } = sandbox();
    const result = await exec('(sleep 600 &) ; setsid sleep 600 & sleep 600', { timeout_seconds: 1 });
    expect(result).toMatchObject({ isError: true, sandbox: { timedOut: true } });
    expect(result.sandbox!.exitCode).toBeUndefined();
    expect(await processesOf(sandboxId)).toBe(0);
  });

  it('kills what a finished command left running in the background, before its result comes back', async () => {
    const { sandboxId, exec } = sandbox();
    const result = await exec('sleep 600 & setsid sleep 600 & echo started');
    expect(result).toMatchObject({ isError: false, sandbox: { exitCode: 0 } });
    expect(result.content).toContain('started');
    expect(await processesOf(sandboxId)).toBe(0);
  });

  it('holds memory_mb and disk_mb', async () => {
    const { exec } = sandbox({ memory_mb: 128, disk_mb: 8 });
    const memory = await exec(
      'node -e "const a = []; for (let i = 0; i < 64; i++) a.push(Buffer.alloc(16 * 1024 * 1024, 1)); console.log(\'ALLOCATED\')"',
    );
    expect(memory.isError).toBe(true);
    expect(memory.content).not.toContain('ALLOCATED');
    const disk = await exec('head -c 20000000 /dev/zero > big.bin');
    expect(disk.isError).toBe(true);
    expect((await exec('wc -c < big.bin')).content).toContain('8388608');
    // Many files each under the limit: the workspace check after the command reports it.
    const many = await exec('rm big.bin; for i in 1 2 3; do head -c 4000000 /dev/zero > part$i.bin; done');
    expect(many.isError).toBe(true);
    expect(many.content).toMatch(
      /^exit code 0 after [0-9.]+ s; the workspace now holds 12 MB, over disk_mb \(8\); remove files before going on/,
    );
    expect((await exec('rm part*.bin')).isError).toBe(false);
  });
});

describe('on a host that does not run as root', () => {
  it('runs commands as the host user in a user namespace, with the same isolation and limits', async () => {
    // The same adapter in a process of an unprivileged user (nobody), as on a developer's laptop.
    const nobodyRoot = join(root, 'nobody');
    await mkdir(nobodyRoot, { mode: 0o755 });
    await chown(nobodyRoot, 65534, 65534);
    // nobody may not reach the project (a clone under a private, 0700 home): it runs a bundle of
    // the adapter and a link to this Node, both where it can read them.
    const source = join(nobodyRoot, 'run.ts');
    const script = join(nobodyRoot, 'run.mjs');
    await writeFile(
      source,
      `import { BubblewrapSandboxes } from ${JSON.stringify(join(process.cwd(), 'adapters/sandbox/bubblewrap.ts'))};
import { SandboxSpec } from ${JSON.stringify(join(process.cwd(), 'core/definitions/sandbox.ts'))};
const provider = new BubblewrapSandboxes({ root: ${JSON.stringify(join(nobodyRoot, 'sandboxes'))}, orgDir: ${JSON.stringify(nobodyRoot)} });
const sandbox = await provider.open({ sandboxId: 'r-nobody', agent: 'coder', spec: SandboxSpec.parse({ max_processes: 16, command_timeout_seconds: 3 }), input: {} });
const results = [];
for (const command of ['id -u; grep CapEff /proc/self/status', 'cat ${secretsFile}', 'bomb() { bomb | bomb & }; bomb; sleep 30']) {
  const { value } = await sandbox.exec({ command, cwd: '.', timeoutSeconds: 3 });
  results.push(value);
}
await provider.destroy('r-nobody');
console.log(JSON.stringify(results));
`,
    );
    const options = { ...NODE22_ESM_BUNDLE, mainFields: [...NODE22_ESM_BUNDLE.mainFields] };
    await build({ ...options, entryPoints: [source], outfile: script, logLevel: 'error' });
    const node = await reachableNode();
    const output = execFileSync(
      '/usr/bin/setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', node, script],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const [identity, secret, bomb] = JSON.parse(output.trim().split('\n').pop()!) as Array<{
      exitCode?: number;
      output: string;
      timedOut: boolean;
    }>;
    expect(identity).toMatchObject({ exitCode: 0, output: '1000\nCapEff:\t0000000000000000\n' });
    expect(secret!.exitCode).not.toBe(0);
    expect(secret!.output).not.toContain(fakeKey);
    expect(bomb!.timedOut || /Cannot fork|Resource temporarily unavailable/.test(bomb!.output)).toBe(true);
    expect(existsSync(join(nobodyRoot, 'sandboxes', 'r-nobody'))).toBe(false);
  });
});

describe('a sandbox that cannot keep its policy never runs anything', () => {
  it('refuses to start without bubblewrap', async () => {
    const missing = new BubblewrapSandboxes({
      root: join(root, 'sandboxes'),
      orgDir,
      bwrapPath: join(root, 'no-such-bwrap'),
    });
    const s = spec();
    const result = await callSandboxTool(
      {
        open: () => missing.open({ sandboxId: 'r-no-bwrap', agent: 'coder', spec: s, input: {} }),
        spec: s,
        pricePerHourMicros: 0,
      },
      'exec',
      { command: 'echo hi' },
    );
    expect(result).toEqual({
      isError: true,
      content: `the sandbox is unavailable, so nothing was run: the sandbox cannot start: ${join(root, 'no-such-bwrap')} is not available (install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)); commands are never run unsandboxed`,
    });
    expect(existsSync(join(root, 'sandboxes', 'r-no-bwrap'))).toBe(false);
  });

  it('refuses a network allowlist it cannot enforce locally', async () => {
    const { exec } = sandbox({ network: { allow: ['registry.npmjs.org'] } });
    const result = await exec('echo hi');
    expect(result.isError).toBe(true);
    expect(result.content).toContain(
      'the local sandbox supports network: none only; an allowlist (registry.npmjs.org) cannot be enforced with bubblewrap',
    );
  });

  it('refuses copy-in the input cannot satisfy, and leaves nothing behind', async () => {
    const { sandboxId, exec } = sandbox({ copy_in: { files: [{ path: 'a.txt', from_input: 'missing.field' }] } }, {});
    const result = await exec('echo hi');
    expect(result.isError).toBe(true);
    expect(result.content).toContain("copy_in.files: the run's input has no missing.field for a.txt");
    expect(existsSync(join(root, 'sandboxes', sandboxId))).toBe(false);
  });
});
