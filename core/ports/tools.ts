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
