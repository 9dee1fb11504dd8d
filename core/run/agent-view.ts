import type { AgentSpec, HarnessLimits, SubAgentInput } from '../definitions/agent.ts';
import { DEFAULT_HARNESS } from '../definitions/harness.ts';
import { resolveMemory } from '../definitions/memory.ts';
import { agentEntry, type Catalog, type InstructionsDoc } from '../definitions/catalog.ts';
import type { AgentView, ApprovalRule, ResolvedLimits } from '../definitions/context.ts';
import type { McpServerDeclaration } from '../definitions/org.ts';
import { sha256 } from '../definitions/hash.ts';
import { usdToMicros } from '../budgets/pricing.ts';
import { NotFoundError } from '../errors.ts';
import { normalizeGrant } from '../policy/grants.ts';
import { mergePolicies } from '../definitions/guardrails.ts';

/**
 * Resolves an agent (and its checker) from the catalog into the self-contained view a
 * run snapshots: instructions, skill pins, model declarations, granted servers,
 * limits with defaults applied. Runs never look at the catalog again.
 */

function resolveLimits(
  harness: HarnessLimits | undefined,
  fallback: { maxSteps: number },
  catalog: Catalog,
): ResolvedLimits {
  return {
    maxSteps: harness?.max_steps ?? fallback.maxSteps,
    maxTokens: harness?.max_tokens_per_run,
    maxCostMicros: harness?.max_cost_usd !== undefined ? usdToMicros(harness.max_cost_usd) : undefined,
    maxOutputTokens: harness?.max_output_tokens ?? DEFAULT_HARNESS.max_output_tokens,
    maxDurationSeconds: harness?.max_duration,
    stallMaxRepeats: harness?.stall?.max_repeats ?? DEFAULT_HARNESS.stall_max_repeats,
    onDeniedTool: harness?.on_denied_tool ?? DEFAULT_HARNESS.on_denied_tool,
    onToolInDoubt: harness?.on_tool_in_doubt ?? DEFAULT_HARNESS.on_tool_in_doubt,
    maxToolCallsPerTurn: harness?.max_tool_calls_per_turn ?? DEFAULT_HARNESS.max_tool_calls_per_turn,
    maxDepth: harness?.max_depth ?? DEFAULT_HARNESS.max_depth,
    offload: {
      resultTokens: harness?.context?.offload_result_tokens ?? DEFAULT_HARNESS.offload_result_tokens,
      turnTokens: harness?.context?.offload_turn_tokens ?? DEFAULT_HARNESS.offload_turn_tokens,
      previewChars: harness?.context?.preview_chars ?? DEFAULT_HARNESS.preview_chars,
    },
    compaction: {
      at: harness?.context?.compact_at ?? DEFAULT_HARNESS.compact_at,
      model: harness?.context?.compaction_model ? model(catalog, harness.context.compaction_model) : undefined,
      onFailure: harness?.context?.on_compaction_failure ?? DEFAULT_HARNESS.on_compaction_failure,
    },
  };
}

function resolveApprovals(spec: AgentSpec): ApprovalRule[] {
  return Object.entries(spec.approvals).map(([pattern, rule]) => ({
    pattern,
    approvers: typeof rule === 'string' ? [] : (rule.approvers ?? []),
    timeoutSeconds: (typeof rule === 'string' ? undefined : rule.timeout) ?? DEFAULT_HARNESS.approval_timeout_seconds,
    onReject: (typeof rule === 'string' ? undefined : rule.on_reject) ?? 'continue',
    ...(typeof rule !== 'string' && rule.two_person ? { twoPerson: true } : {}),
    ...(typeof rule !== 'string' && rule.remind_before !== undefined
      ? { remindBeforeSeconds: rule.remind_before }
      : {}),
    ...(typeof rule !== 'string' && rule.escalate_after !== undefined && rule.escalate_to
      ? { escalateAfterSeconds: rule.escalate_after, escalateTo: rule.escalate_to }
      : {}),
  }));
}

function rateLimitFor(catalog: Catalog, agent: string): AgentView['rateLimit'] {
  const declared = catalog.budgets.limits.find((limit) => limit.agent === agent);
  return declared?.requests_per_minute
    ? { requestsPerMinute: declared.requests_per_minute, onRateLimited: declared.on_rate_limited }
    : undefined;
}

/** Budgets that can apply to the agent's calls; user budgets are matched against the principal at call time. */
function budgetsFor(catalog: Catalog, spec: AgentSpec, models: string[]) {
  return catalog.budgets.budgets.filter(
    (budget) =>
      budget.agent === spec.name ||
      (budget.team !== undefined && budget.team === spec.team) ||
      (budget.model !== undefined && models.includes(budget.model)) ||
      budget.user !== undefined,
  );
}

function serversFor(catalog: Catalog, names: string[]): Record<string, McpServerDeclaration> {
  return Object.fromEntries(
    names.filter((name) => catalog.servers[name]).map((name) => [name, catalog.servers[name]!]),
  );
}

/** The agent's sandbox, with its price: the maker and its sub-agents share the run's one workspace. */
function sandboxFor(catalog: Catalog, spec: AgentSpec): AgentView['sandbox'] {
  if (!spec.sandbox) return undefined;
  return {
    spec: spec.sandbox,
    pricePerHourMicros: usdToMicros(catalog.sandboxPricing?.price_per_hour_usd ?? 0),
    agent: spec.name,
  };
}

function model(catalog: Catalog, name: string) {
  const entry = catalog.models[name];
  if (!entry) throw new NotFoundError(`unknown model "${name}"`);
  return entry;
}

const DEFAULT_CHECKER_INSTRUCTIONS: InstructionsDoc = {
  path: '(built in)',
  version: '1',
  text: 'You are a careful reviewer. Check the work against the task and the pass criteria, using only read-only tools. Do not redo the work.',
  sha256: '',
};

function subagentView(catalog: Catalog, parent: AgentSpec, sub: SubAgentInput, version: string): AgentView {
  const entry = catalog.agents[parent.name]!;
  const grants = sub.mcp_servers.map(normalizeGrant);
  const role = sub.role ?? (parent.verify?.checker === sub.name ? 'checker' : 'maker');
  return {
    agent: parent.name,
    subagent: sub.name,
    role,
    team: parent.team,
    owner: parent.owner,
    version,
    instructions:
      entry.subagentInstructions[sub.name] ?? (role === 'checker' ? DEFAULT_CHECKER_INSTRUCTIONS : entry.instructions),
    skills: [],
    model: model(catalog, sub.model ?? parent.model),
    grants,
    servers: serversFor(
      catalog,
      grants.map((grant) => grant.server),
    ),
    limits: resolveLimits(sub.harness, { maxSteps: DEFAULT_HARNESS.checker_max_steps }, catalog),
    approvals: resolveApprovals(parent),
    budgets: budgetsFor(catalog, parent, [sub.model ?? parent.model]),
    rateLimit: rateLimitFor(catalog, parent.name),
    guardrails: mergePolicies(catalog.guardrails, parent.guardrails),
    sandbox: sandboxFor(catalog, parent),
    // The checker reads its maker's ledger (never writes it); other sub-agents have none.
    memory: role === 'checker' ? resolveMemory(parent.memory) : undefined,
  };
}

/** The sub-agents a maker may delegate to: every declared one except its checker. */
function delegatesOf(spec: AgentSpec): AgentView['delegates'] {
  const delegates = spec.subagents
    .filter((sub) => sub.role !== 'checker' && sub.name !== spec.verify?.checker)
    .map((sub) => ({ name: sub.name, description: sub.description, agent: sub.agent }));
  return delegates.length > 0 ? delegates : undefined;
}

/** A declared (inline) sub-agent run on its own: its model, instructions, grants and identity. */
export function compileSubagentView(catalog: Catalog, agentName: string, subName: string): AgentView {
  const parent = compileAgentView(catalog, agentName);
  const spec = catalog.agents[agentName]!.spec;
  const sub = spec.subagents.find((candidate) => candidate.name === subName);
  if (!sub) throw new NotFoundError(`agent "${agentName}" declares no sub-agent "${subName}"`);
  return subagentView(catalog, spec, sub, parent.version);
}

export function compileAgentView(catalog: Catalog, agentName: string): AgentView {
  const entry = agentEntry(catalog, agentName);
  if (!entry) throw new NotFoundError(`unknown agent "${agentName}"`);
  const spec = entry.spec;
  const skillPins = entry.skillPins ?? [];
  const version = sha256(
    JSON.stringify({
      spec,
      instructions: entry.instructions.sha256,
      sub: entry.subagentInstructions,
      skills: skillPins.map((pin) => pin.sha256),
    }),
  ).slice(0, 12);
  const grants = spec.mcp_servers.map(normalizeGrant);
  const checkerSpec = spec.verify ? spec.subagents.find((sub) => sub.name === spec.verify!.checker) : undefined;
  return {
    agent: spec.name,
    role: 'maker',
    team: spec.team,
    owner: spec.owner,
    version,
    instructions: entry.instructions,
    skills: [],
    skillPins,
    model: model(catalog, spec.model),
    fallbackModel: spec.fallback_model ? model(catalog, spec.fallback_model) : undefined,
    grants,
    servers: serversFor(
      catalog,
      grants.map((grant) => grant.server),
    ),
    limits: resolveLimits(spec.harness, { maxSteps: DEFAULT_HARNESS.max_steps }, catalog),
    approvals: resolveApprovals(spec),
    budgets: budgetsFor(catalog, spec, [spec.model, ...(spec.fallback_model ? [spec.fallback_model] : [])]),
    rateLimit: rateLimitFor(catalog, spec.name),
    approveWritesAfterUntrusted: spec.approve_writes_after_untrusted_input || undefined,
    guardrails: mergePolicies(catalog.guardrails, spec.guardrails),
    sandbox: sandboxFor(catalog, spec),
    notify: spec.notify.length > 0 ? spec.notify : undefined,
    delegates: delegatesOf(spec),
    memory: resolveMemory(spec.memory),
    verify:
      spec.verify && checkerSpec
        ? {
            criteria: spec.verify.criteria,
            maxAttempts: spec.verify.max_attempts ?? DEFAULT_HARNESS.max_verify_attempts,
            checker: subagentView(catalog, spec, checkerSpec, version),
            ...(spec.verify.checks ? { checks: spec.verify.checks } : {}),
            ...(spec.verify.release ? { release: spec.verify.release } : {}),
          }
        : undefined,
  };
}
