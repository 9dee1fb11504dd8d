import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * `looprail dev` started through npx stops with everything it started when npx gets a
 * SIGTERM (npm passes the signal to the shell it started, not to looprail), and when it
 * gets one while DynamoDB Local is still starting. Linux: processes are found in /proc.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ORG = join(ROOT, 'test/fixtures/brief-org');
const groups: number[] = [];
const temps: string[] = [];

afterAll(async () => {
  // A safety net only: the tests expect nothing to be left.
  for (const group of groups) {
    for (const pid of inGroup(group)) process.kill(pid, 'SIGKILL');
  }
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Processes of a process group, with their command lines. */
function inGroup(group: number): number[] {
  return processes()
    .filter((each) => each.pgid === group)
    .map((each) => each.pid);
}

function processes(): Array<{ pid: number; pgid: number; cmdline: string }> {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      found.push({ pid: Number(name), pgid, cmdline });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** A folder whose local `looprail` is this checkout's, as `npm install looprail` would make it. */
async function projectUsingLooprail(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-npx-'));
  temps.push(dir);
  await writeFile(join(dir, 'package.json'), '{ "private": true }\n');
  await mkdir(join(dir, 'node_modules/.bin'), { recursive: true });
  await symlink(join(ROOT, 'bin/looprail.js'), join(dir, 'node_modules/.bin/looprail'));
  return dir;
}

function npxDev(dir: string): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn('npx', ['looprail', 'dev', '--port', '0', '--org', ORG, '--state-dir', join(dir, 'state')], {
    cwd: dir,
    // Its own process group, to find (and, failing the test, clean up) everything it starts.
    detached: true,
    env: { ...process.env, LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  groups.push(child.pid!);
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { child, output: () => output };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const jvmsOf = (group: number) =>
  processes().filter((each) => each.pgid === group && each.cmdline.includes('XmlConfiguration'));

describe('looprail dev through npx', () => {
  it('stops with its DynamoDB Local when npx gets SIGTERM', async () => {
    const dir = await projectUsingLooprail();
    const { child, output } = npxDev(dir);
    await until(() => output().includes('looprail dev: the API on'), 240_000, `dev to start; it printed:\n${output()}`);
    expect(jvmsOf(child.pid!)).toHaveLength(1);
    expect(existsSync(join(dir, 'state/dev.json'))).toBe(true);

    process.kill(child.pid!, 'SIGTERM');
    await until(() => inGroup(child.pid!).length === 0, 60_000, 'every process npx started to end');
    expect(output()).toContain('its parent (npx or npm) exited: stopping');
    expect(output()).toContain('looprail dev stopped');
    expect(existsSync(join(dir, 'state/dev.json'))).toBe(false);
    expect(existsSync(join(dir, 'state/dynamodb.json'))).toBe(false);
  }, 300_000);

  it('stops cleanly on SIGTERM while its database is still starting', async () => {
    const dir = await projectUsingLooprail();
    const { child, output } = npxDev(dir);
    await until(() => jvmsOf(child.pid!).length === 1, 120_000, 'DynamoDB Local to be started');
    const looprail = processes().find((each) => each.pgid === child.pid && each.cmdline.includes('.bin/looprail dev'));
    expect(looprail).toBeDefined();
    // Straight to looprail, as a process manager would.
    process.kill(looprail!.pid, 'SIGTERM');
    await until(() => jvmsOf(child.pid!).length === 0, 120_000, 'DynamoDB Local to stop');
    await until(() => inGroup(child.pid!).length === 0, 60_000, 'every process npx started to end');
    expect(output()).toMatch(/SIGTERM: stopping/);
  }, 300_000);
});

describe('looprail run stopped with Ctrl-C', () => {
  it('while its run waits for an approval: exits 130 with nothing of its own left running', async () => {
    const state = await mkdtemp(join(tmpdir(), 'looprail-run-interrupt-'));
    temps.push(state);
    let output = '';
    const child = spawn(
      join(ROOT, 'node_modules/node/bin/node'),
      [
        join(ROOT, 'cli/main.ts'),
        'run',
        'approval',
        '--org',
        join(ROOT, 'test/fixtures/loop-org'),
        '--state-dir',
        state,
      ],
      { cwd: ROOT, detached: true, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    groups.push(child.pid!);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => (output += chunk));
    await until(
      () => /^ {2}approval +notes\.create_entities/m.test(output),
      240_000,
      `the approval wait; it printed:\n${output}`,
    );

    process.kill(child.pid!, 'SIGINT');
    // Before the fix the local engine's day-long approval timer kept the process alive after everything closed.
    expect(await exited).toBe(130);
    expect(output).toContain('interrupted: every step committed so far is recorded');
    await until(() => inGroup(child.pid!).length === 0, 60_000, 'every process it started to end');
    expect(existsSync(join(state, 'dynamodb.json'))).toBe(false);
  }, 300_000);
});
