import type { McpServerDeclaration } from './org.ts';

/**
 * How long one tool call may take where its server's file says nothing, and the one rule
 * that reads it: the governed call, verify.checks, the ModelStep's time reckoning and the
 * MCP adapter agree on one number. A module of its own, like harness.ts, so they read it
 * without loading the org schema.
 */
export const DEFAULT_CALL_TIMEOUT_SECONDS = 60;

export function callTimeoutSeconds(server: Pick<McpServerDeclaration, 'timeouts'>): number {
  return server.timeouts.call ?? DEFAULT_CALL_TIMEOUT_SECONDS;
}
