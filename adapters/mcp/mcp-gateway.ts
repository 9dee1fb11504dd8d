import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import type { ToolCallResult, ToolDescriptor, ToolGateway } from '../../core/ports/tools.ts';
import type { McpHosts } from './host-client.ts';
import { callTimeoutMs } from './mcp-connection.ts';
import type { McpConnectionOptions, McpDirectConnections, McpToolCallOptions } from './mcp-direct.ts';

export type { McpToolCallOptions } from './mcp-direct.ts';

export interface McpToolGatewayOptions extends McpConnectionOptions {
  /** On AWS: servers run in their own host Lambdas (host-client.ts) and are invoked there, never spawned. */
  hosts?: McpHosts;
}

/**
 * The ToolGateway for MCP servers: a server with a host Lambda is invoked there (host-client.ts);
 * any other is connected to by this process (mcp-direct.ts, over stdio or Streamable HTTP).
 * The MCP SDK's client is loaded with the first direct connection, not at import: a step on
 * AWS whose servers are all hosted never evaluates it (tens of milliseconds of every cold
 * start: docs/architecture.md, "One application, two hosts").
 */
export class McpToolGateway implements ToolGateway {
  readonly #options: McpToolGatewayOptions;
  #direct: Promise<McpDirectConnections> | undefined;
  #closed = false;

  constructor(options: McpToolGatewayOptions) {
    this.#options = options;
  }

  async listTools(server: McpServerDeclaration): Promise<ToolDescriptor[]> {
    if (this.#options.hosts?.has(server.name)) return this.#options.hosts.listTools(server);
    return (await this.#connections()).listTools(server);
  }

  async callTool(
    server: McpServerDeclaration,
    tool: string,
    args: Record<string, unknown>,
    options?: McpToolCallOptions,
  ): Promise<ToolCallResult> {
    const hosts = this.#options.hosts;
    if (hosts?.has(server.name)) return hosts.callTool(server, tool, args, options?.timeoutMs ?? callTimeoutMs(server));
    return (await this.#connections()).callTool(server, tool, args, options);
  }

  /** Closes every connection and stops every stdio child. Safe to call more than once. */
  async close(): Promise<void> {
    this.#closed = true;
    const direct = this.#direct;
    this.#direct = undefined;
    await (await direct?.catch(() => undefined))?.close();
  }

  #connections(): Promise<McpDirectConnections> {
    if (this.#closed) return Promise.reject(new Error('McpToolGateway is closed'));
    this.#direct ??= import('./mcp-direct.ts').then(({ McpDirectConnections }) => {
      const direct = new McpDirectConnections(this.#options);
      // close() ran while the module loaded: nothing was connected, and nothing may be.
      if (this.#closed) void direct.close();
      return direct;
    });
    return this.#direct;
  }
}
