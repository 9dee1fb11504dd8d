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

/** A program the model wrote (code mode): JavaScript run by Node in the workspace, as an ES module. */
export interface ScriptRequest {
  code: string;
  /** Relative to the workspace. */
  cwd: string;
  timeoutSeconds: number;
}

/** A tool call a script made (`await tools.call('server.tool', args)` inside the sandbox). */
export interface ScriptToolCall {
  /** `server.tool`, as the model names tools. */
  name: string;
  arguments: Record<string, unknown>;
}

export interface ScriptToolResult {
  content: string;
  isError: boolean;
}

/**
 * Carries a script's tool calls out of the sandbox to looprail's gateway, which applies
 * grants, approvals, guardrails, tracing and cost to each. The sandbox never reaches a
 * tool (or holds a credential) itself: it only asks, over the command's own pipes.
 */
export type ToolBridge = (call: ScriptToolCall) => Promise<ScriptToolResult>;

export interface ScriptResult extends ExecResult {
  /** Tool calls the script asked for (bridged, refused or not). */
  toolCalls: number;
}

export interface Sandbox {
  /**
   * When its workspace was copied in (ISO time). A run whose later call finds another time
   * got a fresh sandbox: the earlier one stopped (idle, or its lifetime) and its changes are gone.
   */
  readonly createdAt: string;
  /** Sandbox time this run has used so far (the sum of its calls), for run_timeout_seconds. */
  usedMs(): number;
  exec(request: ExecRequest): Promise<Timed<ExecResult>>;
  readFile(path: string, maxBytes: number): Promise<Timed<FileRead>>;
  writeFile(path: string, content: string): Promise<Timed<{ bytes: number }>>;
  listFiles(
    path: string,
    maxDepth: number,
    maxEntries: number,
  ): Promise<Timed<{ entries: string[]; truncated: boolean }>>;
  /** The workspace's changes since copy-in, as a unified diff (new files included). */
  diff(maxBytes: number): Promise<Timed<FileRead>>;
  /**
   * Runs a script (code mode): like exec, but the program may call tools through `bridge`
   * while it runs; only what it prints is returned. Its time (waits on the bridge
   * included: the workspace is held meanwhile) counts as sandbox time.
   */
  runScript(request: ScriptRequest, bridge: ToolBridge): Promise<Timed<ScriptResult>>;
}

export interface SandboxOpenRequest {
  sandboxId: string;
  /** The agent whose `sandbox:` this is (on AWS its task definition). */
  agent: string;
  spec: SandboxSpec;
  /** The maker run's input: what copy_in.files reads. */
  input: unknown;
}

export interface SandboxProvider {
  /** The sandbox with this id: created (and copied into) on the first call, the same one after. */
  open(request: SandboxOpenRequest): Promise<Sandbox>;
  /** Removes it and everything in it; nothing to do when it never existed. */
  destroy(sandboxId: string): Promise<void>;
}
