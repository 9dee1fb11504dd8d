import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  access,
  chmod,
  constants,
  cp,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { SandboxSpec } from '../../core/definitions/sandbox.ts';
import * as z from '../../core/definitions/zod.ts';
import { SandboxUnavailableError } from '../../core/errors.ts';
import type { Sandbox, SandboxOpenRequest, SandboxProvider } from '../../core/ports/sandbox.ts';
import {
  GIT_ENV,
  rlimitArgs,
  SANDBOX_PATH,
  WorkspaceSandbox,
  type CommandLauncher,
  type StartRequest,
} from './workspace.ts';
import { copyInFiles } from '../../core/sandbox/copy-in.ts';

export { SandboxCallError } from './workspace.ts';

const run = promisify(execFile);

/**
 * The local sandbox: a workspace directory per run, and every command (the model's, and
 * looprail's own reads, writes, listings and diffs) run under bubblewrap, so a symlink or
 * a git hook in the workspace can only ever act inside the sandbox. A host running as
 * root gives each sandbox a host uid of its own; otherwise commands run as the host's user
 * (in a user namespace, with every capability dropped).
 *
 * What a command sees: the host's /usr (and the /bin, /lib… links to it) and a few files
 * of /etc read-only, its own /proc, /dev, /tmp and HOME (tmpfs), and the workspace at
 * /workspace. Not the host's home, the project, its `.looprail/` state or the local
 * secrets file. Namespaces: all unshared, so no network at all (its own loopback only);
 * no capabilities; no nested user namespaces; killed with its parent.
 *
 * Limits: a per-command timeout (the whole process tree is killed: it lives in its own
 * PID namespace), RLIMIT_NPROC (a fork bomb stops there: counted for the sandbox's own
 * uid, or for the host's user plus what it already runs), RLIMIT_DATA for memory_mb (per process: V8 and friends reserve address space,
 * so RLIMIT_AS would stop them starting), RLIMIT_FSIZE for disk_mb per file plus a
 * workspace size check after each command, and output kept to max_output_bytes while
 * the rest is drained (a flood far beyond it is killed). `cpu` is not enforced locally.
 *
 * A network allowlist cannot be enforced with bubblewrap alone, so the local sandbox
 * refuses any policy but `none` rather than share the host's network.
 */

export interface BubblewrapSandboxOptions {
  /** Where workspaces live: outside the project and its `.looprail/`. Default: <tmpdir>/looprail-sandboxes. */
  root?: string;
  /** Where `copy_in.repository.path` is resolved. */
  orgDir: string;
  /** Default /usr/bin/bwrap. */
  bwrapPath?: string;
  /** The Node that runs code-mode scripts, as the sandbox sees it (the host's /usr is mounted): default `node` on its PATH. */
  nodePath?: string;
}

const UID_BASE = 200_000;
const UID_RANGE = 100_000;
const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const WORKSPACE = '/workspace';
const HOME = '/home/sandbox';
/** The parts of /etc programs need to start and to name things; nothing else of the host's /etc. */
const ETC_FILES = [
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/nsswitch.conf',
  '/etc/ssl/certs',
  '/etc/ca-certificates',
  '/etc/mime.types',
];
const ROOT_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

const SandboxState = z.object({
  /** The host uid its commands run as: one of its own when the host runs as root, else the host's user. */
  uid: z.number().check(z.int(), z.minimum(0)),
  /** The tree the workspace held after copy-in: what `diff` compares against. */
  base: z.string().check(z.regex(/^[0-9a-f]{40,64}$/)),
  usedMs: z.number().check(z.minimum(0)),
  createdAt: z.string(),
});
type SandboxState = z.infer<typeof SandboxState>;

export class BubblewrapSandboxes implements SandboxProvider {
  readonly root: string;
  readonly #orgDir: string;
  readonly #bwrap: string;
  readonly #node: string;
  readonly #open = new Map<string, Promise<WorkspaceSandbox>>();

  constructor(options: BubblewrapSandboxOptions) {
    this.root = resolve(options.root ?? join(tmpdir(), 'looprail-sandboxes'));
    this.#orgDir = resolve(options.orgDir);
    this.#bwrap = options.bwrapPath ?? '/usr/bin/bwrap';
    this.#node = options.nodePath ?? 'node';
  }

  open(request: SandboxOpenRequest): Promise<Sandbox> {
    if (!SANDBOX_ID.test(request.sandboxId))
      return Promise.reject(new SandboxUnavailableError(`"${request.sandboxId}" is not a valid sandbox id`));
    let opening = this.#open.get(request.sandboxId);
    if (!opening) {
      opening = this.#openOrCreate(request.sandboxId, request.spec, request.input);
      this.#open.set(request.sandboxId, opening);
      // A failed start is not remembered: the next call tries again (and says why again).
      opening.catch(() => this.#open.delete(request.sandboxId));
    }
    return opening;
  }

  async destroy(sandboxId: string): Promise<void> {
    if (!SANDBOX_ID.test(sandboxId)) return;
    const opening = this.#open.get(sandboxId);
    this.#open.delete(sandboxId);
    await opening?.catch(() => undefined);
    await rm(join(this.root, sandboxId), { recursive: true, force: true });
  }

  /**
   * Removes the sandboxes of runs that ended without taking theirs along (a host that died
   * mid-run, then the run was failed by someone else). Only ids `ended` confirms are touched:
   * other hosts' sandboxes under the same root are left alone. Returns the ids removed.
   */
  async sweep(ended: (sandboxId: string) => Promise<boolean>): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    const removed: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !SANDBOX_ID.test(entry.name) || this.#open.has(entry.name)) continue;
      if (!(await ended(entry.name))) continue;
      await this.destroy(entry.name);
      removed.push(entry.name);
    }
    return removed;
  }

  async #openOrCreate(sandboxId: string, spec: SandboxSpec, input: unknown): Promise<WorkspaceSandbox> {
    await this.#checkHost(spec);
    const dir = join(this.root, sandboxId);
    const stateFile = join(dir, 'sandbox.json');
    const existing = await readFile(stateFile, 'utf8').catch(() => undefined);
    if (existing !== undefined)
      return localSandbox(this.#bwrap, this.#node, dir, spec, SandboxState.parse(JSON.parse(existing)));
    // The root and the run's folder are root's and only traversable: the sandbox user reaches its workspace and nothing beside it.
    // Only a root it creates is given its mode (whatever the umask): an existing folder is the operator's.
    if ((await mkdir(this.root, { recursive: true, mode: 0o711 })) !== undefined) await chmod(this.root, 0o711);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o711 });
    const workspace = join(dir, 'ws');
    try {
      await this.#copyRepository(spec, workspace);
      const self = process.getuid!();
      const uid = self === 0 ? UID_BASE + randomInt(UID_RANGE) : self;
      if (uid !== self) await run('chown', ['-R', '-P', `${uid}:${uid}`, workspace]);
      await chmod(workspace, 0o700);
      const sandbox = localSandbox(this.#bwrap, this.#node, dir, spec, {
        uid,
        base: '0'.repeat(40),
        usedMs: 0,
        createdAt: new Date().toISOString(),
      });
      await sandbox.initialize(copyInFiles(spec, input));
      return sandbox;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      if (error instanceof SandboxUnavailableError) throw error;
      throw new SandboxUnavailableError(
        `the sandbox could not be prepared: ${(error as Error).message.split('\n')[0]}`,
      );
    }
  }

  /** Never runs anything unsandboxed: no bubblewrap (or no way to drop to the sandbox's user), no sandbox. */
  async #checkHost(spec: SandboxSpec): Promise<void> {
    if (spec.network !== 'none') {
      throw new SandboxUnavailableError(
        `the local sandbox supports network: none only; an allowlist (${spec.network.allow.join(', ')}) cannot be enforced with bubblewrap, and sharing the host's network would reach everything`,
      );
    }
    const tools: Array<[string, string]> = [
      [this.#bwrap, 'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)'],
      ['/usr/bin/prlimit', 'install util-linux'],
    ];
    if (process.getuid?.() === 0) tools.push(['/usr/bin/setpriv', 'install util-linux']);
    for (const [tool, hint] of tools) {
      try {
        await access(tool, constants.X_OK);
      } catch {
        throw new SandboxUnavailableError(
          `the sandbox cannot start: ${tool} is not available (${hint}); commands are never run unsandboxed`,
        );
      }
    }
    if (process.getuid === undefined)
      throw new SandboxUnavailableError(
        'the local sandbox needs Linux (bubblewrap); commands are never run unsandboxed',
      );
  }

  async #copyRepository(spec: SandboxSpec, workspace: string): Promise<void> {
    const repository = spec.copy_in.repository;
    if (!repository) {
      await mkdir(workspace, { mode: 0o700 });
      return;
    }
    // Sources are the org's own (reviewed) folder or URL: cloned on the host, before anything the model writes exists.
    let source = repository.url;
    if (repository.path !== undefined) {
      const path = resolve(this.#orgDir, repository.path);
      const inside = relative(this.#orgDir, path);
      if (inside.startsWith('..') || isAbsolute(inside))
        throw new SandboxUnavailableError(`copy_in.repository.path ${repository.path} is outside the org folder`);
      const isDir = await stat(path).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!isDir)
        throw new SandboxUnavailableError(
          `copy_in.repository.path ${repository.path} is not a folder in the org folder`,
        );
      const isRepo = await stat(join(path, '.git')).then(
        () => true,
        () => false,
      );
      if (!isRepo) {
        if (repository.ref !== 'HEAD')
          throw new SandboxUnavailableError(
            `copy_in.repository.path ${repository.path} is not a git repository, so ref ${repository.ref} cannot be checked out`,
          );
        await cp(path, workspace, { recursive: true, verbatimSymlinks: true });
        return;
      }
      source = path;
    }
    const env = { ...process.env, ...GIT_ENV };
    await run(
      'git',
      ['-c', 'protocol.file.allow=always', 'clone', '--quiet', '--no-hardlinks', '--', source!, workspace],
      { env, timeout: 300_000 },
    );
    if (repository.ref !== 'HEAD')
      await run('git', ['-C', workspace, 'checkout', '--quiet', '--detach', repository.ref], { env, timeout: 60_000 });
  }
}

/**
 * How the local sandbox starts a command: prlimit (the spec's limits), setpriv (the
 * sandbox's own uid, when the host runs as root), then bubblewrap (namespaces, mounts,
 * a cleared environment). Everything a command starts lives in its PID namespace and
 * dies with it.
 */
class BubblewrapLauncher implements CommandLauncher {
  readonly #bwrap: string;
  readonly #workspace: string;
  readonly #spec: SandboxSpec;
  readonly #uid: number;
  /** Each command's PID namespace init (host pid), as bwrap reports it on its info fd. */
  readonly #inits = new WeakMap<ChildProcess, number>();

  constructor(bwrap: string, workspace: string, spec: SandboxSpec, uid: number) {
    this.#bwrap = bwrap;
    this.#workspace = workspace;
    this.#spec = spec;
    this.#uid = uid;
  }

  async start(request: StartRequest): Promise<ChildProcess> {
    const spec = this.#spec;
    const uid = this.#uid;
    // As root each sandbox runs as a uid of its own; otherwise as the host's user, whose other processes count against RLIMIT_NPROC too.
    const dropUser = uid !== process.getuid!();
    const nproc = dropUser ? spec.max_processes : (await processCount(uid)) + spec.max_processes;
    // bwrap's info fd comes after the command's own pipes (and is closed before the command runs).
    const infoFd = 3 + request.extraPipes;
    const command = [
      '/usr/bin/prlimit',
      ...rlimitArgs(spec, nproc),
      '--',
      ...(dropUser
        ? ['/usr/bin/setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--']
        : []),
      this.#bwrap,
      ...(await this.#bwrapArgs(request.cwd)),
      '--info-fd',
      String(infoFd),
      '--',
      '/bin/sh',
      '-c',
      request.script,
      'sh',
      ...request.args,
    ];
    // Extra pipes (code mode's bridge) pass through prlimit, setpriv, bwrap and sh unchanged, as fds 3 and 4.
    const stdio = Array.from({ length: infoFd + 1 }, () => 'pipe' as const);
    const child = spawn(command[0]!, command.slice(1), { detached: true, stdio, env: { PATH: '/usr/bin:/bin' } });
    let info = '';
    const infoPipe = child.stdio[infoFd] as Readable | null;
    infoPipe?.setEncoding('utf8');
    infoPipe?.on('data', (chunk: string) => {
      info += chunk;
      const pid = /"child-pid":\s*(\d+)/.exec(info)?.[1];
      if (pid !== undefined) this.#inits.set(child, Number(pid));
    });
    infoPipe?.on('error', () => undefined);
    return child;
  }

  /**
   * Kills the namespace's init: the kernel kills everything in the namespace before the
   * init is gone, and only then does bwrap exit, so a result never comes back while
   * something the command started still runs. Before bwrap has said which pid that is,
   * bwrap itself (its process group) is killed; the namespace follows it.
   */
  kill(child: ChildProcess): void {
    const init = this.#inits.get(child);
    if (init !== undefined && child.pid !== undefined && parentOf(init) === child.pid) {
      try {
        process.kill(init, 'SIGKILL');
        return;
      } catch {
        // gone already: bwrap is exiting
      }
    }
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  async #bwrapArgs(cwd: string): Promise<string[]> {
    const args = [
      '--unshare-all',
      '--unshare-user',
      '--disable-userns',
      '--die-with-parent',
      '--new-session',
      '--cap-drop',
      'ALL',
      '--uid',
      '1000',
      '--gid',
      '1000',
      '--hostname',
      'sandbox',
      '--ro-bind',
      '/usr',
      '/usr',
    ];
    for (const path of ROOT_LINKS) {
      const info = await lstat(path).catch(() => undefined);
      if (info?.isSymbolicLink()) args.push('--symlink', await readlink(path), path);
      else if (info?.isDirectory()) args.push('--ro-bind', path, path);
    }
    for (const path of ETC_FILES) args.push('--ro-bind-try', path, path);
    const tmpBytes = String(Math.min(this.#spec.disk_mb, 1024) * 1024 * 1024);
    args.push(
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--size',
      tmpBytes,
      '--tmpfs',
      '/tmp',
      '--size',
      String(64 * 1024 * 1024),
      '--tmpfs',
      HOME,
      '--bind',
      this.#workspace,
      WORKSPACE,
      '--chdir',
      posix.join(WORKSPACE, cwd),
      '--clearenv',
      '--setenv',
      'PATH',
      SANDBOX_PATH,
      '--setenv',
      'HOME',
      HOME,
      '--setenv',
      'TMPDIR',
      '/tmp',
      '--setenv',
      'LANG',
      'C.UTF-8',
      '--setenv',
      'USER',
      'sandbox',
      // The sandbox's own root (where /usr, /etc… are mounted) is read-only too: only the workspace, /tmp and HOME take writes.
      '--remount-ro',
      '/',
    );
    for (const [name, value] of Object.entries(GIT_ENV)) args.push('--setenv', name, value);
    return args;
  }
}

/** A local sandbox: the shared operations, started by bubblewrap, with its state kept in `<dir>/sandbox.json`. */
function localSandbox(
  bwrap: string,
  node: string,
  dir: string,
  spec: SandboxSpec,
  state: SandboxState,
): WorkspaceSandbox {
  const workspace = join(dir, 'ws');
  return new WorkspaceSandbox({
    launcher: new BubblewrapLauncher(bwrap, workspace, spec, state.uid),
    spec,
    workspaceDir: workspace,
    node,
    state: { base: state.base, usedMs: state.usedMs, createdAt: state.createdAt },
    save: (change) =>
      writeFile(join(dir, 'sandbox.json'), JSON.stringify({ ...state, ...change } satisfies SandboxState), {
        mode: 0o600,
      }),
  });
}

/** A process's parent (undefined once it is gone), so a reused pid is never signalled. */
function parentOf(pid: number): number | undefined {
  try {
    const ppid = /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return ppid === undefined ? undefined : Number(ppid);
  } catch {
    return undefined;
  }
}

/** Processes the uid runs now, anywhere on the host (what RLIMIT_NPROC counts). */
async function processCount(uid: number): Promise<number> {
  let count = 0;
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status)) count += 1;
  }
  return count;
}
