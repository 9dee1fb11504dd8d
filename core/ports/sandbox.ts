import type { SandboxSpec } from '../definitions/sandbox.ts';

/**
 * A run's sandbox: an isolated workspace that holds none of the loop's credentials.
 * Locally bubblewrap (adapters/sandbox/bubblewrap.ts). Adapters throw
 * SandboxUnavailableError when they cannot start one that keeps the spec's policy.
 * Paths are relative to the workspace and resolved inside the sandbox, never on the host.
 */

export interface ExecRequest {
  command: string;
  /** Relative to the workspace. */
  cwd: string;
  timeoutSeconds: number;
}

export interface ExecResult {
  /** Absent when the command was killed. */
  exitCode?: number;
  /** Killed after its timeout, with everything it started. */
  timedOut: boolean;
  /** Killed for printing far more than max_output_bytes. */
  outputFlood: boolean;
  /** stdout and stderr as they came, cut at max_output_bytes. */
  output: string;
  /** Everything the command printed, kept or not. */
  outputBytes: number;
  truncated: boolean;
  durationMs: number;
  /** The workspace outgrew disk_mb during the command. */
  diskOverMb?: number;
}

export interface FileRead {
  content: string;
  bytes: number;
  truncated: boolean;
}

/** What every sandbox call took: metered (seconds × price) and recorded on the trace. */
export interface Timed<T> {
  value: T;
  durationMs: number;
}

export interface Sandbox {
  /** Sandbox time this run has used so far (the sum of its calls), for run_timeout_seconds. */
  usedMs(): number;
  exec(request: ExecRequest): Promise<Timed<ExecResult>>;
  readFile(path: string, maxBytes: number): Promise<Timed<FileRead>>;
  writeFile(path: string, content: string): Promise<Timed<{ bytes: number }>>;
  listFiles(path: string, maxDepth: number, maxEntries: number): Promise<Timed<{ entries: string[]; truncated: boolean }>>;
  /** The workspace's changes since copy-in, as a unified diff (new files included). */
  diff(maxBytes: number): Promise<Timed<FileRead>>;
}

export interface SandboxProvider {
  /** The sandbox with this id: created (and copied into) on the first call, the same one after. */
  open(request: { sandboxId: string; spec: SandboxSpec; input: unknown }): Promise<Sandbox>;
  /** Removes it and everything in it; nothing to do when it never existed. */
  destroy(sandboxId: string): Promise<void>;
}
