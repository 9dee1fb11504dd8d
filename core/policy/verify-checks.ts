import type { AgentSpec } from '../definitions/agent.ts';
import type { McpServerDeclaration } from '../definitions/org.ts';
import { SANDBOX_SERVER } from '../definitions/sandbox.ts';
import { isCommandCheck } from '../definitions/verify-checks.ts';
import { findGrantedTool, grantedTools, normalizeGrant } from './grants.ts';

export interface CheckProblem {
  path: PropertyKey[];
  message: string;
}

/**
 * `verify.checks` against the rest of the definition: a command runs in the agent's
 * sandbox (so it needs one, and its timeout fits the sandbox's), a tool check calls a
 * read-only tool the agent is granted (a check must never change anything).
 */
export function verifyCheckProblems(
  spec: AgentSpec,
  servers: Record<string, McpServerDeclaration>,
  invalidServers: ReadonlySet<string> = new Set(),
): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const granted = grantedTools(spec.mcp_servers.map(normalizeGrant), servers);
  for (const [index, check] of (spec.verify?.checks ?? []).entries()) {
    const at = (...field: PropertyKey[]) => ['agent', 'verify', 'checks', index, ...field];
    if (isCommandCheck(check)) {
      if (!spec.sandbox)
        problems.push({
          path: at('command'),
          message:
            "a command check runs in the run's sandbox, but the agent declares no sandbox: add agent.sandbox (what is copied in, limits, network)",
        });
      else if (check.timeout !== undefined && check.timeout > spec.sandbox.command_timeout_seconds)
        problems.push({
          path: at('timeout'),
          message: `expected at most the sandbox's command_timeout_seconds (${spec.sandbox.command_timeout_seconds} s)`,
        });
      continue;
    }
    const server = check.tool.slice(0, check.tool.indexOf('.'));
    if (server === SANDBOX_SERVER) {
      problems.push({
        path: at('tool'),
        message: `a check runs the sandbox with command: (e.g. command: npm test), not a call to the ${SANDBOX_SERVER} server`,
      });
      continue;
    }
    if (invalidServers.has(server)) continue;
    const reachable = findGrantedTool(check.tool, granted, servers);
    if (typeof reachable === 'string') problems.push({ path: at('tool'), message: reachable });
    else if (!reachable.readOnly)
      problems.push({
        path: at('tool'),
        message: `a check may only call a read-only tool: ${check.tool} is not declared read_only: true`,
      });
  }
  return problems;
}
