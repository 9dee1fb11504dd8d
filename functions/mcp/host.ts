import { mcpHostFromEnv } from '../_shared/mcp-host.ts';

/** An MCP host Lambda: one stdio server, invoked by the steps with Lambda Invoke (adapters/mcp/host-protocol.ts). */
export const handler = mcpHostFromEnv();
