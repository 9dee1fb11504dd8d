import type { AgentSpec } from '../definitions/agent.ts';
import type { RunContext } from '../definitions/context.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import type { McpServerDeclaration } from '../definitions/org.ts';
import type { RunMeta } from '../definitions/run.ts';
import { findGrantedTool, grantedTools, normalizeGrant } from './grants.ts';
import type { CheckProblem } from './verify-checks.ts';

/**
 * `verify.release`: tools held until the maker's work is verified, such as the push that
 * proposes it. Before every check and the checker pass, a call to one is answered "not yet"
 * (and nobody is asked to approve it); once they pass, the maker gets a turn to make those
 * calls, and the verified work is frozen: only the released tools, read-only tools and loop
 * memory (built-ins, not governed here) run. See docs/verify-checks.md.
 */

/** Why this call is not made now, or undefined when the rule lets it run. */
export function heldCallReason(
  release: readonly string[] | undefined,
  verified: boolean,
  spec: { server: string; tool: string; readOnly?: boolean },
): string | undefined {
  if (!release) return undefined;
  const tool = `${spec.server}.${spec.tool}`;
  if (!verified) {
    if (!release.includes(tool)) return undefined;
    return (
      `not yet, so the call was not made: ${tool} runs only after verification passes (verify.release). ` +
      'Finish the work and give your final answer; once the checks and the checker pass you get a turn to make this call'
    );
  }
  if (release.includes(tool) || spec.readOnly === true) return undefined;
  return (
    `not made: verification has passed, so the verified work may not change; ` +
    `only ${release.join(', ')}, read-only tools and loop memory run now`
  );
}

/** The same rule for a call of the model's turn (a built-in or unknown tool is not this rule's). */
export function heldCall(
  context: RunContext,
  meta: Pick<RunMeta, 'verified'>,
  call: ToolCallBlock,
): string | undefined {
  const spec = context.tools.find((tool) => tool.name === call.name && !tool.builtin);
  return spec ? heldCallReason(context.view.verify?.release, meta.verified !== undefined, spec) : undefined;
}

/** The model's names (`server__tool`) of the tools verification released, for the maker's message. */
export function releasedToolNames(context: RunContext): string[] {
  const release = context.view.verify?.release ?? [];
  return context.tools
    .filter((tool) => !tool.builtin && release.includes(`${tool.server}.${tool.tool}`))
    .map((tool) => tool.name);
}

/** `verify.release` against the definition: each a write tool the maker is granted, named once. */
export function verifyReleaseProblems(
  spec: AgentSpec,
  servers: Record<string, McpServerDeclaration>,
  invalidServers: ReadonlySet<string> = new Set(),
): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const granted = grantedTools(spec.mcp_servers.map(normalizeGrant), servers);
  const seen = new Set<string>();
  for (const [index, tool] of (spec.verify?.release ?? []).entries()) {
    const at = ['agent', 'verify', 'release', index];
    const server = tool.slice(0, tool.indexOf('.'));
    if (seen.has(tool)) {
      problems.push({ path: at, message: `${tool} is listed twice` });
      continue;
    }
    seen.add(tool);
    if (invalidServers.has(server)) continue;
    const reachable = findGrantedTool(tool, granted, servers);
    if (typeof reachable === 'string') problems.push({ path: at, message: reachable });
    else if (reachable.readOnly)
      problems.push({
        path: at,
        message: `${tool} is read-only, and a read-only tool runs at any time: holding it until verification would hold nothing; list the tools that act on the verified work`,
      });
  }
  return problems;
}
