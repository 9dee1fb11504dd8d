import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SandboxSpec } from '../../core/definitions/sandbox.ts';
import {
  GIT_ENV,
  rlimitArgs,
  SANDBOX_PATH,
  type CommandLauncher,
  type StartRequest,
} from '../../adapters/sandbox/workspace.ts';

/**
 * How the sandbox agent starts a command in its container: as an unprivileged uid (the
 * agent itself runs as root), with a cleared environment, in the workspace. A Fargate
 * task has no PID namespace to give each command, so the agent runs one command at a time
 * and, once it ends (or is killed), kills every process left of that uid: nothing a
 * command starts outlives it, as under bwrap locally. HOME and TMPDIR are emptied before
 * each command, like the tmpfs a local command gets.
 */

export interface UidLauncherOptions {
  spec: SandboxSpec;
  workspace: string;
  home: string;
  tmp: string;
  uid: number;
  gid: number;
  /** prlimit, to hold the spec's limits per process (the task's own ulimits apply anyway); none: the task's alone. */
  prlimit?: string;
  /** The egress proxy (with the sandbox's credentials), for a network allowlist. */
  proxyUrl?: string;
}

export class UidLauncher implements CommandLauncher {
  readonly #options: UidLauncherOptions;

  constructor(options: UidLauncherOptions) {
    this.#options = options;
  }

  async start(request: StartRequest): Promise<ChildProcess> {
    const { spec, workspace, home, tmp, uid, gid, prlimit } = this.#options;
    await privateDir(home, uid, gid);
    await privateDir(tmp, uid, gid);
    // The shell changes folder as the sandbox's user: a folder it cannot enter (or that a symlink points away from) fails as it would for the command.
    const shell = [
      '/bin/sh',
      '-c',
      'cd -- "$1" || exit 1; unset OLDPWD; shift; exec /bin/sh -c "$@"',
      'sh',
      join(workspace, request.cwd),
      request.script,
      'sh',
      ...request.args,
    ];
    const command = prlimit ? [prlimit, ...rlimitArgs(spec, spec.max_processes), '--', ...shell] : shell;
    const stdio = Array.from({ length: 3 + request.extraPipes }, () => 'pipe' as const);
    // Its own process group (the first thing killed on a timeout); uid and gid set with no supplementary groups (libuv clears them).
    return spawn(command[0]!, command.slice(1), { cwd: workspace, uid, gid, detached: true, stdio, env: this.#env() });
  }

  kill(child: ChildProcess): void {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    void killProcessesOf(this.#options.uid);
  }

  exited(): Promise<void> {
    return killProcessesOf(this.#options.uid);
  }

  /** Nothing of the agent's own environment (no AWS_*, ECS_*, token digest): only what a command needs. */
  #env(): Record<string, string> {
    const { home, tmp, proxyUrl } = this.#options;
    const env: Record<string, string> = {
      PATH: SANDBOX_PATH,
      HOME: home,
      TMPDIR: tmp,
      LANG: 'C.UTF-8',
      USER: 'sandbox',
      ...GIT_ENV,
    };
    if (proxyUrl !== undefined) {
      // Lower-case too: curl and others read only those.
      for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) env[name] = proxyUrl;
      env.NO_PROXY = env.no_proxy = 'localhost,127.0.0.1,::1';
    }
    return env;
  }
}

/** An empty folder only `uid` can use: whatever a previous command left there is gone. */
async function privateDir(path: string, uid: number, gid: number): Promise<void> {
  await rm(path, { recursive: true, force: true });
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chown(path, uid, gid);
  await chmod(path, 0o700);
}

/** Live processes (not zombies) whose real or effective uid is `uid`. */
export async function liveProcessesOf(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (!ids || (Number(ids[1]) !== uid && Number(ids[2]) !== uid)) continue;
    if (/^State:\s+[ZX]/m.test(status)) continue;
    pids.push(Number(name));
  }
  return pids;
}

/**
 * Kills every process of `uid`, again until none is left (a process forking while it is
 * killed leaves a child the next pass finds; RLIMIT_NPROC bounds how many). Never uid 0.
 */
export async function killProcessesOf(uid: number): Promise<void> {
  if (uid === 0) throw new Error('refusing to kill the processes of uid 0');
  for (let pass = 0; pass < 200; pass++) {
    const pids = await liveProcessesOf(uid);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await sleep(pass < 10 ? 2 : 20);
  }
}
