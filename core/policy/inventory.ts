import type { Catalog } from '../definitions/catalog.ts';
import type { ToolSpec } from '../definitions/context.ts';
import { compileAgentView } from '../run/agent-view.ts';
import { memorySummary } from '../definitions/memory.ts';
import { approvalFor } from './approval-rules.ts';
import { grantedTools, type GrantedTool } from './grants.ts';
import { formatUsdAmount } from '../format/usd.ts';

/**
 * "What can this loop touch?" as a lookup: every agent with its owner, triggers, model,
 * the tools it may call (with their org-wide flags and why each would pause), approval
 * rules, the budgets that apply, and its sub-agents. Built from the declarations alone;
 * a run may narrow it further (a server's annotations, a changed tool).
 */

export interface InventoryTool {
  tool: string;
  readOnly: boolean;
  destructive: boolean;
  /** Why a call would wait for a human, if it would. */
  approval?: string[];
  rateLimitPerMinute?: number;
}

export interface InventoryEntry {
  agent: string;
  file: string;
  description?: string;
  owner?: string;
  team?: string;
  enabled: boolean;
  model: string;
  provider: string;
  fallbackModel?: string;
  triggers: { schedule?: string; timezone?: string; event?: Record<string, unknown>; webhook?: string };
  limits: { maxSteps: number; maxTokens?: number; maxCostUsd?: number; maxDurationSeconds?: number };
  tools: InventoryTool[];
  approvalRules: string[];
  budgets: string[];
  subagents: Array<{ name: string; role: string; model: string; tools: InventoryTool[] }>;
  /** Loop memory (agent.memory), summarised; absent when the agent keeps none. */
  memory?: string;
  /** Tools held until verification passes (verify.release), as server.tool. */
  heldUntilVerified?: string[];
}

function describeTools(
  tools: GrantedTool[],
  catalog: Catalog,
  rules: Parameters<typeof approvalFor>[1],
): InventoryTool[] {
  return tools.map((tool) => {
    const spec: ToolSpec = {
      name: '',
      server: tool.server,
      tool: tool.tool,
      description: '',
      inputSchema: {},
      readOnly: tool.readOnly,
      destructive: tool.destructive,
      requiresApproval: tool.requiresApproval,
    };
    const approval = approvalFor(spec, rules, 0);
    return {
      tool: `${tool.server}.${tool.tool}`,
      readOnly: tool.readOnly && !tool.destructive,
      destructive: tool.destructive,
      approval: approval?.reasons,
      rateLimitPerMinute: catalog.servers[tool.server]?.tools[tool.tool]?.rate_limit_per_minute,
    };
  });
}

export function buildInventory(catalog: Catalog): InventoryEntry[] {
  return Object.values(catalog.agents)
    .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
    .map((entry) => {
      const view = compileAgentView(catalog, entry.spec.name);
      const spec = entry.spec;
      const budgets = catalog.budgets.budgets
        .filter(
          (budget) =>
            budget.agent === spec.name ||
            (budget.team !== undefined && budget.team === spec.team) ||
            budget.model === spec.model,
        )
        .map(
          (budget) =>
            `${budget.name} (${[budget.limit_usd !== undefined ? formatUsdAmount(budget.limit_usd) : '', budget.limit_tokens !== undefined ? `${budget.limit_tokens} tokens` : ''].filter(Boolean).join(', ')} per ${budget.period})`,
        );
      return {
        agent: spec.name,
        file: entry.file,
        description: spec.description,
        owner: spec.owner,
        team: spec.team,
        enabled: spec.enabled,
        model: spec.model,
        provider: view.model.declaration.provider,
        fallbackModel: spec.fallback_model,
        triggers: {
          schedule: entry.trigger?.schedule?.expression,
          timezone: entry.trigger?.schedule?.timezone,
          event: entry.trigger?.event?.pattern,
          webhook: entry.trigger?.webhook ? `${entry.trigger.webhook.scheme} webhook` : undefined,
        },
        limits: {
          maxSteps: view.limits.maxSteps,
          maxTokens: view.limits.maxTokens,
          maxCostUsd: spec.harness.max_cost_usd,
          maxDurationSeconds: view.limits.maxDurationSeconds,
        },
        tools: describeTools(grantedTools(view.grants, catalog.servers), catalog, view.approvals),
        approvalRules: view.approvals.map(
          (rule) =>
            `${rule.pattern}${rule.approvers.length > 0 ? ` → ${rule.approvers.join(', ')}` : ''} (timeout ${rule.timeoutSeconds} s)`,
        ),
        budgets,
        memory: view.memory ? memorySummary(view.memory) : undefined,
        heldUntilVerified: view.verify?.release,
        subagents: spec.subagents.map((sub) => {
          const subView = view.verify?.checker.subagent === sub.name ? view.verify.checker : undefined;
          const role = sub.role ?? (spec.verify?.checker === sub.name ? 'checker' : 'maker');
          const grants = sub.mcp_servers.map((grant) =>
            typeof grant === 'string'
              ? { server: grant }
              : { server: grant.name, allow: grant.allow, deny: grant.deny },
          );
          return {
            name: sub.name,
            role,
            model: subView?.model.name ?? sub.model ?? spec.model,
            tools: describeTools(grantedTools(grants, catalog.servers), catalog, view.approvals),
          };
        }),
      };
    });
}
