import { spawn, execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { access, chmod, constants, cp, lstat, mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { SandboxSpec } from '../../core/definitions/sandbox.ts';
import { SandboxUnavailableError } from '../../core/errors.ts';
import type { ExecRequest, ExecResult, FileRead, Sandbox, SandboxProvider, Timed } from '../../core/ports/sandbox.ts';

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
}

/** Past this much output (or 64 × max_output_bytes, if more) a command is killed: draining forever is a denial of service. */
const FLOOD_BYTES = 16 * 1024 * 1024;
const UID_BASE = 200_000;
const UID_RANGE = 100_000;
const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const WORKSPACE = '/workspace';
const HOME = '/home/sandbox';
const GIT_ENV: Record<string, string> = {
  GIT_AUTHOR_NAME: 'looprail sandbox',
  GIT_AUTHOR_EMAIL: 'sandbox@looprail.invalid',
  GIT_COMMITTER_NAME: 'looprail sandbox',
  GIT_COMMITTER_EMAIL: 'sandbox@looprail.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
};
/** The parts of /etc programs need to start and to name things; nothing else of the host's /etc. */
const ETC_FILES = ['/etc/alternatives', '/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/localtime', '/etc/nsswitch.conf', '/etc/ssl/certs', '/etc/ca-certificates', '/etc/mime.types'];
const ROOT_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

const SandboxState = z.object({
  /** The host uid its commands run as: one of its own when the host runs as root, else the host's user. */
  uid: z.number().int().min(0),
  /** The tree the workspace held after copy-in: what `diff` compares against. */
  base: z.string().regex(/^[0-9a-f]{40,64}$/),
  usedMs: z.number().min(0),
  createdAt: z.string(),
});
type SandboxState = z.infer<typeof SandboxState>;

interface RunOptions {
  cwd?: string;
  timeoutMs: number;
  stdin?: Buffer;
  /** Kept of stdout+stderr (exec) or of stdout alone (looprail's own calls). */
  maxBytes: number;
  /** Keep stdout and stderr apart (looprail's own calls parse stdout). */
  separate?: boolean;
}

interface RawResult {
  exitCode?: number;
  timedOut: boolean;
  outputFlood: boolean;
  out: Buffer;
  err: Buffer;
  outputBytes: number;
  truncated: boolean;
  durationMs: number;
}

export class BubblewrapSandboxes implements SandboxProvider {
  readonly root: string;
  readonly #orgDir: string;
  readonly #bwrap: string;
  readonly #open = new Map<string, Promise<LocalSandbox>>();

  constructor(options: BubblewrapSandboxOptions) {
    this.root = resolve(options.root ?? join(tmpdir(), 'looprail-sandboxes'));
    this.#orgDir = resolve(options.orgDir);
    this.#bwrap = options.bwrapPath ?? '/usr/bin/bwrap';
  }

  open(request: { sandboxId: string; spec: SandboxSpec; input: unknown }): Promise<Sandbox> {
    if (!SANDBOX_ID.test(request.sandboxId)) return Promise.reject(new SandboxUnavailableError(`"${request.sandboxId}" is not a valid sandbox id`));
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

  async #openOrCreate(sandboxId: string, spec: SandboxSpec, input: unknown): Promise<LocalSandbox> {
    await this.#checkHost(spec);
    const dir = join(this.root, sandboxId);
    const stateFile = join(dir, 'sandbox.json');
    const existing = await readFile(stateFile, 'utf8').catch(() => undefined);
    if (existing !== undefined) return new LocalSandbox(this.#bwrap, dir, spec, SandboxState.parse(JSON.parse(existing)));
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
      const sandbox = new LocalSandbox(this.#bwrap, dir, spec, { uid, base: '0'.repeat(40), usedMs: 0, createdAt: new Date().toISOString() });
      await sandbox.initialize(spec, input);
      return sandbox;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      if (error instanceof SandboxUnavailableError) throw error;
      throw new SandboxUnavailableError(`the sandbox could not be prepared: ${(error as Error).message.split('\n')[0]}`);
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
        throw new SandboxUnavailableError(`the sandbox cannot start: ${tool} is not available (${hint}); commands are never run unsandboxed`);
      }
    }
    if (process.getuid === undefined) throw new SandboxUnavailableError('the local sandbox needs Linux (bubblewrap); commands are never run unsandboxed');
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
      if (inside.startsWith('..') || isAbsolute(inside)) throw new SandboxUnavailableError(`copy_in.repository.path ${repository.path} is outside the org folder`);
      const isDir = await stat(path).then((s) => s.isDirectory(), () => false);
      if (!isDir) throw new SandboxUnavailableError(`copy_in.repository.path ${repository.path} is not a folder in the org folder`);
      const isRepo = await stat(join(path, '.git')).then(() => true, () => false);
      if (!isRepo) {
        if (repository.ref !== 'HEAD') throw new SandboxUnavailableError(`copy_in.repository.path ${repository.path} is not a git repository, so ref ${repository.ref} cannot be checked out`);
        await cp(path, workspace, { recursive: true, verbatimSymlinks: true });
        return;
      }
      source = path;
    }
    const env = { ...process.env, ...GIT_ENV };
    await run('git', ['-c', 'protocol.file.allow=always', 'clone', '--quiet', '--no-hardlinks', '--', source!, workspace], { env, timeout: 300_000 });
    if (repository.ref !== 'HEAD') await run('git', ['-C', workspace, 'checkout', '--quiet', '--detach', repository.ref], { env, timeout: 60_000 });
  }
}

class LocalSandbox implements Sandbox {
  readonly #bwrap: string;
  readonly #dir: string;
  readonly #spec: SandboxSpec;
  #state: SandboxState;

  constructor(bwrap: string, dir: string, spec: SandboxSpec, state: SandboxState) {
    this.#bwrap = bwrap;
    this.#dir = dir;
    this.#spec = spec;
    this.#state = state;
  }

  get #workspace(): string {
    return join(this.#dir, 'ws');
  }

  usedMs(): number {
    return this.#state.usedMs;
  }

  /** A plain folder becomes a repository; input files are written; the tree as it then is is the diff's base. */
  async initialize(spec: SandboxSpec, input: unknown): Promise<void> {
    const setup = await this.#run('if [ ! -e .git ]; then git init -q && git add -A && git commit -q --allow-empty -m "looprail: copied in"; fi', [], { timeoutMs: 120_000, maxBytes: 4096, separate: true });
    if (setup.exitCode !== 0) throw new SandboxUnavailableError(`the sandbox's workspace could not be set up: ${setup.err.toString('utf8').trim().slice(0, 500)}`);
    for (const file of spec.copy_in.files) {
      const value = valueAt(input, file.from_input);
      if (value === undefined) throw new SandboxUnavailableError(`copy_in.files: the run's input has no ${file.from_input} for ${file.path}`);
      await this.#write(file.path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
    }
    const snapshot = await this.#run('export GIT_INDEX_FILE=/tmp/looprail-base-index; git add -A . && git write-tree', [], { timeoutMs: 120_000, maxBytes: 200, separate: true });
    const base = snapshot.out.toString('utf8').trim();
    if (snapshot.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(base)) throw new SandboxUnavailableError(`the sandbox's starting point could not be recorded: ${snapshot.err.toString('utf8').trim().slice(0, 500)}`);
    this.#state = { ...this.#state, base };
    await this.#save();
  }

  async exec(request: ExecRequest): Promise<Timed<ExecResult>> {
    const raw = await this.#run(request.command, [], {
      cwd: request.cwd,
      timeoutMs: request.timeoutSeconds * 1000,
      maxBytes: this.#spec.max_output_bytes,
    });
    const diskOverMb = await this.#diskOver();
    await this.#charge(raw.durationMs);
    const value: ExecResult = {
      exitCode: raw.exitCode,
      timedOut: raw.timedOut,
      outputFlood: raw.outputFlood,
      output: raw.out.toString('utf8'),
      outputBytes: raw.outputBytes,
      truncated: raw.truncated,
      durationMs: raw.durationMs,
      ...(diskOverMb !== undefined ? { diskOverMb } : {}),
    };
    return { value, durationMs: raw.durationMs };
  }

  async readFile(path: string, maxBytes: number): Promise<Timed<FileRead>> {
    const raw = await this.#run('if [ ! -f "$1" ]; then echo "no such file: $1" >&2; exit 2; fi; stat -c %s -- "$1" && head -c "$2" -- "$1"', [path, String(maxBytes)], {
      timeoutMs: 30_000,
      maxBytes: maxBytes + 32,
      separate: true,
    });
    await this.#charge(raw.durationMs);
    this.#assertOk(raw, `read ${path}`);
    const text = raw.out.toString('utf8');
    const newline = text.indexOf('\n');
    const bytes = Number(text.slice(0, newline));
    const content = text.slice(newline + 1);
    return { value: { content, bytes, truncated: bytes > maxBytes }, durationMs: raw.durationMs };
  }

  async writeFile(path: string, content: string): Promise<Timed<{ bytes: number }>> {
    const raw = await this.#write(path, content);
    return { value: { bytes: Buffer.byteLength(content) }, durationMs: raw.durationMs };
  }

  async listFiles(path: string, maxDepth: number, maxEntries: number): Promise<Timed<{ entries: string[]; truncated: boolean }>> {
    const raw = await this.#run(
      'if [ ! -d "$1" ]; then echo "no such folder: $1" >&2; exit 2; fi; find "$1" -mindepth 1 -maxdepth "$2" \\( -name .git -prune \\) -o -printf "%y %P\\n" | head -n "$3"',
      [path, String(maxDepth), String(maxEntries + 1)],
      { timeoutMs: 30_000, maxBytes: 1024 * 1024, separate: true },
    );
    await this.#charge(raw.durationMs);
    this.#assertOk(raw, `list ${path}`);
    const lines = raw.out.toString('utf8').split('\n').filter((line) => line.length > 2 && !line.endsWith(' '));
    const entries = lines.map((line) => (line.startsWith('d ') ? `${line.slice(2)}/` : line.slice(2))).sort();
    return { value: { entries: entries.slice(0, maxEntries), truncated: entries.length > maxEntries }, durationMs: raw.durationMs };
  }

  async diff(maxBytes: number): Promise<Timed<FileRead>> {
    // A private index, so the model's own staging is left as it was.
    const raw = await this.#run(
      'export GIT_INDEX_FILE=/tmp/looprail-diff-index; git add -A . && git diff --cached --no-color --no-ext-diff --no-textconv "$1"',
      [this.#state.base],
      { timeoutMs: 60_000, maxBytes, separate: true },
    );
    await this.#charge(raw.durationMs);
    this.#assertOk(raw, 'diff the workspace');
    return { value: { content: raw.out.toString('utf8'), bytes: raw.outputBytes, truncated: raw.truncated }, durationMs: raw.durationMs };
  }

  async #write(path: string, content: string): Promise<RawResult> {
    const raw = await this.#run('mkdir -p -- "$(dirname -- "$1")" && cat > "$1"', [path], { timeoutMs: 30_000, maxBytes: 4096, separate: true, stdin: Buffer.from(content, 'utf8') });
    await this.#charge(raw.durationMs);
    this.#assertOk(raw, `write ${path}`);
    return raw;
  }

  #assertOk(raw: RawResult, what: string): void {
    if (raw.exitCode === 0 && !raw.timedOut) return;
    const why = raw.timedOut ? 'it took too long' : raw.err.toString('utf8').trim().slice(0, 500) || `exit code ${raw.exitCode ?? 'none (killed)'}`;
    throw new SandboxCallError(`could not ${what}: ${why}`);
  }

  async #charge(durationMs: number): Promise<void> {
    this.#state = { ...this.#state, usedMs: this.#state.usedMs + durationMs };
    await this.#save();
  }

  #saving: Promise<void> = Promise.resolve();

  /** One write at a time: a turn's parallel calls each record their time. */
  #save(): Promise<void> {
    this.#saving = this.#saving.catch(() => undefined).then(() => writeFile(join(this.#dir, 'sandbox.json'), JSON.stringify(this.#state), { mode: 0o600 }));
    return this.#saving;
  }

  /** Best effort: the workspace's size after a command, against disk_mb (each file is also capped by RLIMIT_FSIZE). */
  async #diskOver(): Promise<number | undefined> {
    try {
      const { stdout } = await run('du', ['-s', '-k', '-x', '-P', this.#workspace], { timeout: 60_000 });
      const mb = Math.ceil(Number(stdout.split(/\s/)[0]) / 1024);
      return mb > this.#spec.disk_mb ? mb : undefined;
    } catch {
      return undefined;
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
      '--proc', '/proc',
      '--dev', '/dev',
      '--size', tmpBytes, '--tmpfs', '/tmp',
      '--size', String(64 * 1024 * 1024), '--tmpfs', HOME,
      '--bind', this.#workspace, WORKSPACE,
      '--chdir', posix.join(WORKSPACE, cwd),
      '--clearenv',
      '--setenv', 'PATH', '/usr/local/bin:/usr/bin:/bin',
      '--setenv', 'HOME', HOME,
      '--setenv', 'TMPDIR', '/tmp',
      '--setenv', 'LANG', 'C.UTF-8',
      '--setenv', 'USER', 'sandbox',
      // The sandbox's own root (where /usr, /etc… are mounted) is read-only too: only the workspace, /tmp and HOME take writes.
      '--remount-ro', '/',
    );
    for (const [name, value] of Object.entries(GIT_ENV)) args.push('--setenv', name, value);
    return args;
  }

  /** Runs a shell script in the sandbox: `sh -c script sh args…`. Never throws for the command's own failure. */
  async #run(script: string, scriptArgs: string[], options: RunOptions): Promise<RawResult> {
    const spec = this.#spec;
    const uid = this.#state.uid;
    // As root each sandbox runs as a uid of its own; otherwise as the host's user, whose other processes count against RLIMIT_NPROC too.
    const dropUser = uid !== process.getuid!();
    const nproc = dropUser ? spec.max_processes : (await processCount(uid)) + spec.max_processes;
    const cwd = options.cwd ?? '.';
    if (cwd.startsWith('/') || cwd.split('/').includes('..')) throw new SandboxCallError(`cwd must be a folder inside the workspace, without a leading / or any .. (got ${cwd})`);
    const command = [
      '/usr/bin/prlimit',
      `--nproc=${nproc}`,
      `--data=${spec.memory_mb * 1024 * 1024}`,
      `--fsize=${spec.disk_mb * 1024 * 1024}`,
      '--core=0',
      '--nofile=1024',
      '--',
      ...(dropUser ? ['/usr/bin/setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--'] : []),
      this.#bwrap,
      ...(await this.#bwrapArgs(cwd)),
      '--',
      '/bin/sh',
      '-c',
      script,
      'sh',
      ...scriptArgs,
    ];
    const flood = Math.max(FLOOD_BYTES, options.maxBytes * 64);
    const started = performance.now();
    return new Promise<RawResult>((resolvePromise, reject) => {
      // Its own process group: a timeout kills bwrap, and with it (PID namespace, die-with-parent) everything inside.
      const child = spawn(command[0]!, command.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
      const kept: Buffer[] = [];
      const keptErr: Buffer[] = [];
      let keptBytes = 0;
      let keptErrBytes = 0;
      let total = 0;
      let truncated = false;
      let timedOut = false;
      let outputFlood = false;
      const kill = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, options.timeoutMs);
      const take = (chunk: Buffer, stream: 'out' | 'err') => {
        total += chunk.length;
        if (options.separate && stream === 'err') {
          if (keptErrBytes < 8192) {
            keptErr.push(chunk.subarray(0, 8192 - keptErrBytes));
            keptErrBytes += Math.min(chunk.length, 8192 - keptErrBytes);
          }
          return;
        }
        const room = options.maxBytes - keptBytes;
        if (room > 0) {
          const part = chunk.subarray(0, room);
          kept.push(part);
          keptBytes += part.length;
        }
        if (chunk.length > room) truncated = true;
        if (total > flood && !outputFlood) {
          outputFlood = true;
          kill();
        }
      };
      child.stdout.on('data', (chunk: Buffer) => take(chunk, 'out'));
      child.stderr.on('data', (chunk: Buffer) => take(chunk, 'err'));
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.stdin ?? Buffer.alloc(0));
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(new SandboxUnavailableError(`the sandbox could not start a command: ${error.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolvePromise({
          exitCode: timedOut || outputFlood || code === null ? undefined : code,
          timedOut,
          outputFlood,
          out: Buffer.concat(kept),
          err: Buffer.concat(keptErr),
          outputBytes: total,
          truncated,
          durationMs: Math.round(performance.now() - started),
        });
      });
    });
  }
}

/** A looprail-side sandbox call (read, write, list, diff) that failed: reported to the model as a failed call. */
export class SandboxCallError extends Error {
  override name = 'looprail.SandboxCall';
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

function valueAt(input: unknown, dotted: string): unknown {
  let current: unknown = input;
  for (const key of dotted.split('.')) {
    if (typeof current !== 'object' || current === null || !(key in current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
