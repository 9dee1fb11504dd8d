import type { ServerGrantInput } from '../definitions/agent.ts';
import type { Grant } from '../definitions/context.ts';
import type { McpServerDeclaration } from '../definitions/org.ts';
import { globMatches } from './glob.ts';

/**
 * Grants: an agent reaches only the servers it names, only the tools the org declared
 * on them, and only those its allow/deny patterns leave. What the model is shown and
 * what it may call are decided by this one rule.
 */

export function normalizeGrant(input: ServerGrantInput): Grant {
  if (typeof input === 'string') return { server: input };
  return { server: input.name, allow: input.allow, deny: input.deny, deferLoading: input.defer_loading };
}

/** Whether a grant lets the agent call `tool` (a tool declared on the grant's server). */
export function grantAllows(grant: Grant, tool: string): boolean {
  if (grant.allow && !grant.allow.some((pattern) => globMatches(pattern, tool))) return false;
  if (grant.deny?.some((pattern) => globMatches(pattern, tool))) return false;
  return true;
}

export interface GrantedTool {
  server: string;
  tool: string;
  readOnly: boolean;
  destructive: boolean;
  requiresApproval: boolean;
}

/** Every declared tool the grants reach, with its org-wide flags. */
export function grantedTools(grants: Grant[], servers: Record<string, McpServerDeclaration>): GrantedTool[] {
  const tools: GrantedTool[] = [];
  for (const grant of grants) {
    const server = servers[grant.server];
    if (!server) continue;
    for (const [tool, flags] of Object.entries(server.tools)) {
      if (!grantAllows(grant, tool)) continue;
      tools.push({
        server: grant.server,
        tool,
        readOnly: flags.read_only === true,
        destructive: flags.destructive === true,
        requiresApproval: flags.requires_approval === true,
      });
    }
  }
  return tools;
}

/** A tool named `server.tool` among the agent's granted tools, or, for validation, why it is not one. */
export function findGrantedTool(
  name: string,
  granted: GrantedTool[],
  servers: Record<string, McpServerDeclaration>,
): GrantedTool | string {
  const server = name.slice(0, name.indexOf('.'));
  const tool = name.slice(name.indexOf('.') + 1);
  const found = granted.find((candidate) => candidate.server === server && candidate.tool === tool);
  if (found) return found;
  return servers[server]
    ? `the agent is not granted ${name}: grant it under agent.mcp_servers (it must be declared on ${server}'s tools)`
    : `unknown server "${server}": declare it in mcp-servers/ and grant it under agent.mcp_servers`;
}
