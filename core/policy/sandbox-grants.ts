import type { AgentSpec } from '../definitions/agent.ts';
import { SANDBOX_SERVER } from '../definitions/sandbox.ts';
import type { McpServerDeclaration } from '../definitions/org.ts';
import { normalizeGrant } from './grants.ts';

export interface SandboxProblem {
  path: PropertyKey[];
  message: string;
  severity: 'error' | 'warning';
}

/**
 * The sandbox server is looprail's own: an org may not declare one of that name (or any
 * server served in-process), and an agent or sub-agent may be granted it only when the
 * agent declares `sandbox:`, which says what the workspace holds and may do.
 */
export function sandboxServerProblem(server: McpServerDeclaration): string | undefined {
  if (server.name === SANDBOX_SERVER)
    return `"${SANDBOX_SERVER}" is looprail's built-in sandbox server: declare the sandbox with agent.sandbox, and pick another name for this server`;
  if (server.transport.type === 'builtin')
    return "transport builtin is reserved for looprail's own servers: expected stdio or http";
  return undefined;
}

export function sandboxGrantProblems(spec: AgentSpec): SandboxProblem[] {
  const problems: SandboxProblem[] = [];
  const granted = (grants: AgentSpec['mcp_servers'], base: PropertyKey[]) =>
    grants.flatMap((input, index) =>
      normalizeGrant(input).server === SANDBOX_SERVER
        ? [typeof input === 'string' ? [...base, index] : [...base, index, 'name']]
        : [],
    );
  const paths = [
    ...granted(spec.mcp_servers, ['agent', 'mcp_servers']),
    ...spec.subagents.flatMap((sub, index) => granted(sub.mcp_servers, ['agent', 'subagents', index, 'mcp_servers'])),
  ];
  if (!spec.sandbox) {
    for (const path of paths)
      problems.push({
        path,
        message: `the ${SANDBOX_SERVER} server is granted, but the agent declares no sandbox: add agent.sandbox (limits, network, what is copied in)`,
        severity: 'error',
      });
  } else if (paths.length === 0) {
    problems.push({
      path: ['agent', 'sandbox'],
      message: `a sandbox is declared, but neither the agent nor a sub-agent is granted the ${SANDBOX_SERVER} server, so nothing can use it`,
      severity: 'warning',
    });
  }
  return problems;
}
