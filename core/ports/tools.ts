import type { McpServerDeclaration } from '../definitions/org.ts';

/** A tool as its server describes it (MCP `tools/list`). */
export interface ToolDescriptor {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  annotations?: {
    title?: string;
    readOnlyHint?: boolean;
    destructiveHint?: boolean;
    idempotentHint?: boolean;
    openWorldHint?: boolean;
  };
}

/** A tool's answer. A failed call is data the model can read (`isError`), not an exception. */
export interface ToolCallResult {
  content: string;
  isError: boolean;
  /** A sandbox call: what the trace records of it. */
  sandbox?: SandboxCallRecord;
  /** What the call cost (sandbox time), in micro-USD; attributed to the run like model spend. */
  costMicros?: number;
  /** A sandbox call: when the sandbox it ran in was copied in (Sandbox.createdAt). */
  sandboxCreatedAt?: string;
}

/** One sandbox call on the trace: the command (for exec), its exit code, duration and output size. */
export interface SandboxCallRecord {
  command?: string;
  exitCode?: number;
  timedOut?: boolean;
  outputBytes?: number;
  durationMs: number;
}

export interface ToolCallOptions {
  timeoutMs: number;
}

/**
 * Reaches MCP servers. Throws ToolUnavailableError when the server cannot be reached
 * or breaks the protocol, and ToolTimeoutError when a call outlives its timeout.
 */
export interface ToolGateway {
  listTools(server: McpServerDeclaration): Promise<ToolDescriptor[]>;
  callTool(
    server: McpServerDeclaration,
    tool: string,
    args: Record<string, unknown>,
    options: ToolCallOptions,
  ): Promise<ToolCallResult>;
  close(): Promise<void>;
}
