import { execFile, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { SandboxSpec } from '../../core/definitions/sandbox.ts';
import { SandboxCallError, SandboxUnavailableError } from '../../core/errors.ts';
import type {
  ExecRequest,
  ExecResult,
  FileRead,
  Sandbox,
  ScriptRequest,
  ScriptResult,
  Timed,
  ToolBridge,
} from '../../core/ports/sandbox.ts';
import { ScriptBridgeHost } from './script-bridge.ts';
import { NO_NODE_MARKER, SCRIPT_PREAMBLE, SCRIPT_SHELL } from './script-preamble.ts';

/**
 * A sandbox's operations, whatever starts its commands: the shell scripts behind read,
 * write, list, diff and the workspace's setup, the capture of a command's output (cut,
 * flood kill, timeout), the parsing of what they print, and code mode's tools bridge.
 * The local sandbox (bwrap + prlimit + setpriv, bubblewrap.ts) and the sandbox agent in
 * an AWS container (a plain unprivileged uid, containers/sandbox-agent/server.ts) differ
 * only in their CommandLauncher. Every command, looprail's own included, runs as the sandbox's user, so
 * a symlink or a git setting planted in the workspace can only act inside the sandbox.
 */

const run = promisify(execFile);

/** Past this much output (or 64 × max_output_bytes, if more) a command is killed: draining forever is a denial of service. */
const FLOOD_BYTES = 16 * 1024 * 1024;
/** stderr kept of looprail's own calls, for their error messages. */
const KEPT_ERR_BYTES = 8192;

export const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';
export const GIT_ENV: Record<string, string> = {
  GIT_AUTHOR_NAME: 'looprail sandbox',
  GIT_AUTHOR_EMAIL: 'sandbox@looprail.invalid',
  GIT_COMMITTER_NAME: 'looprail sandbox',
  GIT_COMMITTER_EMAIL: 'sandbox@looprail.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
};

/** A looprail-side sandbox call (read, write, list, diff, a script that cannot start) that failed: reported to the model as a failed call. */
export { SandboxCallError };

export interface StartRequest {
  /** Run as `/bin/sh -c script sh args…`. */
  script: string;
  args: string[];
  /** Relative to the workspace (already checked: no leading /, no ..). */
  cwd: string;
  /** Pipes beyond stdin, stdout and stderr (code mode's bridge: fds 3 and 4). */
  extraPipes: number;
}

/** How a sandbox starts a command as its user, and stops it with everything it started. */
export interface CommandLauncher {
  /** A child whose stdio are all pipes ([stdin, stdout, stderr, …extra]). Rejects with SandboxUnavailableError when nothing can start. */
  start(request: StartRequest): Promise<ChildProcess>;
  /** Kills the command and everything it started (timeout, flood). */
  kill(child: ChildProcess): void;
  /**
   * After the command's main process exited: stops what it left behind (nothing to do
   * where the sandbox is a PID namespace that dies with it). The command's result waits for it.
   */
  exited?(child: ChildProcess): Promise<void>;
}

export interface RunOptions {
  cwd?: string;
  timeoutMs: number;
  stdin?: Buffer;
  /** Kept of stdout+stderr (exec) or of stdout alone (looprail's own calls). */
  maxBytes: number;
  /** Keep stdout and stderr apart (looprail's own calls parse stdout). */
  separate?: boolean;
  /** Code mode: the script's tool calls go here. */
  bridge?: ToolBridge;
}

export interface RawResult {
  exitCode?: number;
  timedOut: boolean;
  outputFlood: boolean;
  out: Buffer;
  err: Buffer;
  outputBytes: number;
  truncated: boolean;
  durationMs: number;
  toolCalls: number;
}

/** Runs a shell script in the sandbox: `sh -c script sh args…`. Never throws for the command's own failure. */
export async function runCommand(
  launcher: CommandLauncher,
  script: string,
  args: string[],
  options: RunOptions,
): Promise<RawResult> {
  const cwd = options.cwd ?? '.';
  if (cwd.startsWith('/') || cwd.split('/').includes('..') || cwd.includes('\0')) {
    throw new SandboxCallError(`cwd must be a folder inside the workspace, without a leading / or any .. (got ${cwd})`);
  }
  const flood = Math.max(FLOOD_BYTES, options.maxBytes * 64);
  const started = performance.now();
  const child = await launcher.start({ script, args, cwd, extraPipes: options.bridge ? 2 : 0 });
  return new Promise<RawResult>((resolvePromise, reject) => {
    const kept: Buffer[] = [];
    const keptErr: Buffer[] = [];
    let keptBytes = 0;
    let keptErrBytes = 0;
    let total = 0;
    let truncated = false;
    let timedOut = false;
    let outputFlood = false;
    let exited: Promise<void> = Promise.resolve();
    const kill = () => launcher.kill(child);
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const take = (chunk: Buffer, stream: 'out' | 'err') => {
      total += chunk.length;
      if (options.separate && stream === 'err') {
        if (keptErrBytes < KEPT_ERR_BYTES) {
          const part = chunk.subarray(0, KEPT_ERR_BYTES - keptErrBytes);
          keptErr.push(part);
          keptErrBytes += part.length;
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
    const bridge = options.bridge
      ? new ScriptBridgeHost(child.stdio[3] as Readable, child.stdio[4] as Writable, options.bridge)
      : undefined;
    // Our end of the replies pipe is a socket too: what a script writes there is drained, so it closes with the script.
    (child.stdio[4] as Readable | null | undefined)?.resume();
    child.stdout!.on('data', (chunk: Buffer) => take(chunk, 'out'));
    child.stderr!.on('data', (chunk: Buffer) => take(chunk, 'err'));
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.stdin ?? Buffer.alloc(0));
    child.on('exit', () => {
      if (launcher.exited) exited = launcher.exited(child).catch(() => undefined);
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      bridge?.close();
      reject(new SandboxUnavailableError(`the sandbox could not start a command: ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      bridge?.close();
      const result: RawResult = {
        exitCode: timedOut || outputFlood || code === null ? undefined : code,
        timedOut,
        outputFlood,
        out: Buffer.concat(kept),
        err: Buffer.concat(keptErr),
        outputBytes: total,
        truncated,
        durationMs: Math.round(performance.now() - started),
        toolCalls: bridge?.calls ?? 0,
      };
      void exited.then(() => resolvePromise(result));
    });
  });
}

/** The part of a sandbox's state its operations keep: the diff's base and the time used. */
export interface WorkspaceState {
  /** The tree the workspace held after copy-in (a git tree id). */
  base: string;
  usedMs: number;
  /** When the workspace was copied in. */
  createdAt: string;
}

export interface WorkspaceSandboxOptions {
  launcher: CommandLauncher;
  spec: SandboxSpec;
  /** The workspace on the host (the disk check measures it). */
  workspaceDir: string;
  /** The Node that runs code-mode scripts, as the sandbox sees it: a name on its PATH or an absolute path. */
  node: string;
  state: WorkspaceState;
  /** Called (one at a time, in order) after each change of the state. */
  save?: (state: WorkspaceState) => Promise<void>;
}

export class WorkspaceSandbox implements Sandbox {
  readonly #launcher: CommandLauncher;
  readonly #spec: SandboxSpec;
  readonly #workspaceDir: string;
  readonly #node: string;
  readonly #save: ((state: WorkspaceState) => Promise<void>) | undefined;
  #state: WorkspaceState;
  #saving: Promise<void> = Promise.resolve();

  constructor(options: WorkspaceSandboxOptions) {
    this.#launcher = options.launcher;
    this.#spec = options.spec;
    this.#workspaceDir = options.workspaceDir;
    this.#node = options.node;
    this.#save = options.save;
    this.#state = { ...options.state };
  }

  get state(): WorkspaceState {
    return { ...this.#state };
  }

  usedMs(): number {
    return this.#state.usedMs;
  }

  get createdAt(): string {
    return this.#state.createdAt;
  }

  /**
   * A plain folder becomes a repository; the files are written; the tree as it then is is
   * the diff's base. Throws SandboxUnavailableError when the workspace cannot be set up.
   */
  async initialize(files: Array<{ path: string; content: string }>): Promise<string> {
    const setup = await this.run(
      'if [ ! -e .git ]; then git init -q && git add -A && git commit -q --allow-empty -m "looprail: copied in"; fi',
      [],
      { timeoutMs: 120_000, maxBytes: 4096, separate: true },
    );
    if (setup.exitCode !== 0)
      throw new SandboxUnavailableError(
        `the sandbox's workspace could not be set up: ${setup.err.toString('utf8').trim().slice(0, 500)}`,
      );
    for (const file of files) await this.#write(file.path, file.content);
    // A private index (the model's own staging is left alone), made afresh: a TMPDIR that outlived a command is never trusted.
    const snapshot = await this.run(
      'export GIT_INDEX_FILE="${TMPDIR:-/tmp}/looprail-base-index"; rm -f "$GIT_INDEX_FILE"; git add -A . && git write-tree',
      [],
      { timeoutMs: 120_000, maxBytes: 200, separate: true },
    );
    const base = snapshot.out.toString('utf8').trim();
    if (snapshot.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(base))
      throw new SandboxUnavailableError(
        `the sandbox's starting point could not be recorded: ${snapshot.err.toString('utf8').trim().slice(0, 500)}`,
      );
    await this.#update({ base });
    return base;
  }

  async exec(request: ExecRequest): Promise<Timed<ExecResult>> {
    const raw = await this.run(request.command, [], {
      cwd: request.cwd,
      timeoutMs: request.timeoutSeconds * 1000,
      maxBytes: this.#spec.max_output_bytes,
    });
    const value = await this.#execResult(raw);
    return { value, durationMs: raw.durationMs };
  }

  async runScript(request: ScriptRequest, bridge: ToolBridge): Promise<Timed<ScriptResult>> {
    const raw = await this.run(SCRIPT_SHELL, [this.#node, SCRIPT_PREAMBLE], {
      cwd: request.cwd,
      timeoutMs: request.timeoutSeconds * 1000,
      maxBytes: this.#spec.max_output_bytes,
      stdin: Buffer.from(request.code, 'utf8'),
      bridge,
    });
    if (raw.exitCode === 127 && raw.out.toString('utf8').trim() === NO_NODE_MARKER) {
      await this.#charge(raw.durationMs);
      throw new SandboxCallError(
        `code mode needs Node.js in the sandbox, and it has none: "${this.#node}" is not there (PATH ${SANDBOX_PATH}); use exec instead, or a sandbox image with node`,
      );
    }
    const value = await this.#execResult(raw);
    return { value: { ...value, toolCalls: raw.toolCalls }, durationMs: raw.durationMs };
  }

  async readFile(path: string, maxBytes: number): Promise<Timed<FileRead>> {
    const raw = await this.run(
      'if [ ! -f "$1" ]; then echo "no such file: $1" >&2; exit 2; fi; stat -c %s -- "$1" && head -c "$2" -- "$1"',
      [path, String(maxBytes)],
      {
        timeoutMs: 30_000,
        maxBytes: maxBytes + 32,
        separate: true,
      },
    );
    await this.#charge(raw.durationMs);
    assertOk(raw, `read ${path}`);
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

  async listFiles(
    path: string,
    maxDepth: number,
    maxEntries: number,
  ): Promise<Timed<{ entries: string[]; truncated: boolean }>> {
    const raw = await this.run(
      'if [ ! -d "$1" ]; then echo "no such folder: $1" >&2; exit 2; fi; find "$1" -mindepth 1 -maxdepth "$2" \\( -name .git -prune \\) -o -printf "%y %P\\n" | head -n "$3"',
      [path, String(maxDepth), String(maxEntries + 1)],
      { timeoutMs: 30_000, maxBytes: 1024 * 1024, separate: true },
    );
    await this.#charge(raw.durationMs);
    assertOk(raw, `list ${path}`);
    const lines = raw.out
      .toString('utf8')
      .split('\n')
      .filter((line) => line.length > 2 && !line.endsWith(' '));
    const entries = lines.map((line) => (line.startsWith('d ') ? `${line.slice(2)}/` : line.slice(2))).sort();
    return {
      value: { entries: entries.slice(0, maxEntries), truncated: entries.length > maxEntries },
      durationMs: raw.durationMs,
    };
  }

  async diff(maxBytes: number): Promise<Timed<FileRead>> {
    // A private index, so the model's own staging is left as it was; made afresh each time.
    const raw = await this.run(
      'export GIT_INDEX_FILE="${TMPDIR:-/tmp}/looprail-diff-index"; rm -f "$GIT_INDEX_FILE"; git add -A . && git diff --cached --no-color --no-ext-diff --no-textconv "$1"',
      [this.#state.base],
      { timeoutMs: 60_000, maxBytes, separate: true },
    );
    await this.#charge(raw.durationMs);
    assertOk(raw, 'diff the workspace');
    return {
      value: { content: raw.out.toString('utf8'), bytes: raw.outputBytes, truncated: raw.truncated },
      durationMs: raw.durationMs,
    };
  }

  /** A shell script as the sandbox's user, uncharged (for setup steps): `sh -c script sh args…`. */
  run(script: string, args: string[], options: RunOptions): Promise<RawResult> {
    return runCommand(this.#launcher, script, args, options);
  }

  async #execResult(raw: RawResult): Promise<ExecResult> {
    const diskOverMb = await this.#diskOver();
    await this.#charge(raw.durationMs);
    return {
      exitCode: raw.exitCode,
      timedOut: raw.timedOut,
      outputFlood: raw.outputFlood,
      output: raw.out.toString('utf8'),
      outputBytes: raw.outputBytes,
      truncated: raw.truncated,
      durationMs: raw.durationMs,
      ...(diskOverMb !== undefined ? { diskOverMb } : {}),
    };
  }

  async #write(path: string, content: string): Promise<RawResult> {
    const raw = await this.run('mkdir -p -- "$(dirname -- "$1")" && cat > "$1"', [path], {
      timeoutMs: 30_000,
      maxBytes: 4096,
      separate: true,
      stdin: Buffer.from(content, 'utf8'),
    });
    await this.#charge(raw.durationMs);
    assertOk(raw, `write ${path}`);
    return raw;
  }

  #charge(durationMs: number): Promise<void> {
    return this.#update({ usedMs: this.#state.usedMs + durationMs });
  }

  /** One save at a time, in order: a turn's parallel calls each record their time. */
  #update(change: Partial<WorkspaceState>): Promise<void> {
    this.#state = { ...this.#state, ...change };
    const save = this.#save;
    if (!save) return Promise.resolve();
    const state = { ...this.#state };
    this.#saving = this.#saving.catch(() => undefined).then(() => save(state));
    return this.#saving;
  }

  /** Best effort: the workspace's size after a command, against disk_mb (each file is also capped by RLIMIT_FSIZE where it is set). */
  async #diskOver(): Promise<number | undefined> {
    try {
      const { stdout } = await run('du', ['-s', '-k', '-x', '-P', this.#workspaceDir], { timeout: 60_000 });
      const mb = Math.ceil(Number(stdout.split(/\s/)[0]) / 1024);
      return mb > this.#spec.disk_mb ? mb : undefined;
    } catch {
      return undefined;
    }
  }
}

function assertOk(raw: RawResult, what: string): void {
  if (raw.exitCode === 0 && !raw.timedOut) return;
  const why = raw.timedOut
    ? 'it took too long'
    : raw.err.toString('utf8').trim().slice(0, 500) || `exit code ${raw.exitCode ?? 'none (killed)'}`;
  throw new SandboxCallError(`could not ${what}: ${why}`);
}

/** prlimit's arguments for a spec: the same limits wherever a command runs. */
export function rlimitArgs(spec: SandboxSpec, nproc: number): string[] {
  return [
    `--nproc=${nproc}`,
    `--data=${spec.memory_mb * 1024 * 1024}`,
    `--fsize=${spec.disk_mb * 1024 * 1024}`,
    '--core=0',
    '--nofile=1024',
  ];
}
