import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The README's "Your first loop", followed as written: its ```sh blocks, command by command, in
 * a fresh copy of the project (the files Git would clone, as they are in the working tree, with
 * node_modules linked in). Two things a person does by hand are done here the same way: `<runId>`
 * is the id the run printed, and `looprail dev` (which serves until Ctrl-C) is started on a free
 * port, its console page for the run fetched with the token it printed, then stopped.
 */

const exec = promisify(execFile);
const ROOT = process.cwd();
const temps: string[] = [];
const started: ChildProcess[] = [];
afterAll(async () => {
  for (const child of started) stopGroup(child);
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The shell commands of the section under `heading`, in order, without their comments. */
function sectionCommands(readme: string, heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`README has no "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/\n```sh\n([\s\S]*?)\n```/g)]
    .flatMap((block) => block[1]!.split('\n'))
    .map((line) => line.replace(/\s+#\s.*$/, '').trim())
    .filter((line) => line !== '');
}

/** The project as a fresh clone would have it: tracked and new files of the working tree. */
async function freshCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-readme-'));
  temps.push(dir);
  const { stdout } = await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  for (const path of stdout.split('\0').filter(Boolean)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await copyFile(join(ROOT, path), join(dir, path)).catch((error: NodeJS.ErrnoException) => {
      // A file deleted in the working tree but not yet in Git's index is not in a clone either.
      if (error.code !== 'ENOENT') throw error;
    });
  }
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

interface Ran {
  command: string;
  code: number;
  output: string;
}

async function sh(command: string, cwd: string): Promise<Ran> {
  try {
    const { stdout, stderr } = await exec('sh', ['-c', command], {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { command, code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { command, code: failed.code, output: `${failed.stdout}${failed.stderr}` };
  }
}

function stopGroup(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
}

/** `looprail dev` as a person runs it: until its console answers; then the run's page, then Ctrl-C. */
async function devConsole(command: string, cwd: string, runId: string): Promise<{ status: number; page: string }> {
  const child = spawn('sh', ['-c', `exec ${command} --port 0`], {
    cwd,
    env: { ...process.env, NO_COLOR: '1' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  const ready = new Promise<{ url: string; token: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`looprail dev did not start:\n${output}`)), 180_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /console: (http:\/\/\S+)\/console/.exec(output)?.[1];
      const token = /token \(random[^)]*\): (\S+)/.exec(output)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ url, token });
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => reject(new Error(`looprail dev exited ${code}:\n${output}`)));
  });
  try {
    const { url, token } = await ready;
    const response = await fetch(`${url}/console/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, page: await response.text() };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    stopGroup(child);
    await exited;
  }
}

describe('the README\'s "Your first loop"', () => {
  it('runs as written in a fresh copy of the project, and the run ends verified', async () => {
    const dir = await freshCopy();
    const commands = sectionCommands(await readFile(join(dir, 'README.md'), 'utf8'), 'Your first loop');
    expect(commands[0]).toBe('npx looprail init my-org');
    expect(commands.some((command) => command.startsWith('npx looprail run '))).toBe(true);
    let runId: string | undefined;
    for (const command of commands) {
      if (/^npx looprail dev\b/.test(command)) {
        expect(runId, 'the console step comes after a run').toBeDefined();
        const { status, page } = await devConsole(command, dir, runId!);
        expect(status, page).toBe(200);
        expect(page).toContain(runId!);
        expect(page).toContain('verified');
        continue;
      }
      const ran = await sh(command.replaceAll('<runId>', runId ?? '<runId>'), dir);
      expect(ran.code, `${command}\n${ran.output}`).toBe(0);
      if (/^npx looprail run /.test(command)) {
        expect(ran.output).toContain('■ verified — the checker passed attempt 1');
        runId = /· run (r-[a-z0-9-]+) ·/.exec(ran.output)?.[1];
        expect(runId, ran.output).toBeDefined();
      }
      if (command.startsWith('npx looprail trace ')) expect(ran.output).toContain('verified');
    }
  }, 900_000);
});
