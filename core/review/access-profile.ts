import type { Catalog } from '../definitions/catalog.ts';
import type { GuardrailPolicy } from '../definitions/guardrails.ts';
import { buildInventory, type InventoryTool } from '../policy/inventory.ts';
import { compileAgentView } from '../run/agent-view.ts';

/**
 * What one agent may do, as a flat set of facets a reviewer can compare: each tool it may
 * call (with its flags, the reasons a call would pause, its rate limit and pin), each
 * approval rule, limit, budget, guardrail, trigger and sandbox host, its models and prices,
 * its instructions and skill versions, and the same for each sub-agent. Built from the
 * declarations alone, as the inventory is (docs/architecture.md, "Reviewing a change").
 */

/** How a facet's appearance, disappearance or change moves what the agent may do. */
export type FacetKind =
  | 'tool' // a callable tool: added widens; changes compared by its flags
  | 'gate' // something that holds a call back (an approval rule, a guardrail): added narrows
  | 'ceiling' // a number that caps the agent (a limit, a budget, a rate): raised widens
  | 'reach' // a way in or out (a trigger, a sandbox host, an enabled agent, a sub-agent): added widens
  | 'fact'; // a model, a price, an instructions or skill version: a change to review, no direction

export interface Facet {
  kind: FacetKind;
  /** How it reads in a report. */
  shown: string;
  /** For ceilings: the number compared (absent: unlimited). For gates: a severity compared. */
  amount?: number;
  /** For tools: the flags compared. */
  tool?: InventoryTool & { pin?: string };
}

export type AccessProfile = Map<string, Facet>;

const ACTION_SEVERITY: Record<string, number> = { flag: 0, redact: 1, truncate: 2, block: 3 };

/** Every agent of the catalog, by name, with its facets. */
export function accessProfiles(catalog: Catalog): Map<string, AccessProfile> {
  const profiles = new Map<string, AccessProfile>();
  for (const entry of buildInventory(catalog)) {
    const spec = catalog.agents[entry.agent]!.spec;
    const view = compileAgentView(catalog, entry.agent);
    const facets: AccessProfile = new Map();
    const put = (key: string, facet: Facet) => facets.set(key, facet);
    const pinOf = (qualified: string) => {
      const [server, ...rest] = qualified.split('.');
      return catalog.servers[server!]?.tools[rest.join('.')]?.pin;
    };
    const tools = (prefix: string, list: InventoryTool[]) => {
      for (const tool of list)
        put(`${prefix}tool ${tool.tool}`, {
          kind: 'tool',
          shown: toolText(tool),
          tool: { ...tool, pin: pinOf(tool.tool) },
        });
    };

    put('enabled', { kind: 'reach', shown: entry.enabled ? 'enabled' : 'disabled', amount: entry.enabled ? 1 : 0 });
    tools('', entry.tools);
    for (const rule of entry.approvalRules) put(`approval ${rule.split(' ')[0]}`, { kind: 'gate', shown: rule });
    for (const tool of spec.verify?.release ?? [])
      put(`release ${tool}`, { kind: 'gate', shown: `${tool} held until verification passes` });
    if (spec.approve_writes_after_untrusted_input)
      put('approval writes after untrusted input', {
        kind: 'gate',
        shown: 'every write waits once the run read untrusted input',
      });
    ceiling(put, 'limit max_steps', entry.limits.maxSteps);
    ceiling(put, 'limit max_tokens_per_run', entry.limits.maxTokens);
    ceiling(put, 'limit max_cost_usd', entry.limits.maxCostUsd, (n) => `$${n}`);
    ceiling(put, 'limit max_duration', entry.limits.maxDurationSeconds, (n) => `${n} s`);
    ceiling(put, 'limit max_tool_calls_per_turn', view.limits.maxToolCallsPerTurn);
    ceiling(put, 'limit max_depth', view.limits.maxDepth);
    if (view.rateLimit) ceiling(put, 'rate limit', view.rateLimit.requestsPerMinute, (n) => `${n} requests/min`);
    for (const budget of view.budgets ?? []) {
      if (budget.limit_usd !== undefined)
        ceiling(put, `budget ${budget.name} usd`, budget.limit_usd, (n) => `$${n} per ${budget.period}`);
      if (budget.limit_tokens !== undefined)
        ceiling(put, `budget ${budget.name} tokens`, budget.limit_tokens, (n) => `${n} tokens per ${budget.period}`);
    }
    guardrails(put, view.guardrails);
    if (entry.triggers.schedule)
      put('trigger schedule', {
        kind: 'reach',
        shown: `${entry.triggers.schedule}${entry.triggers.timezone ? ` (${entry.triggers.timezone})` : ''}`,
      });
    if (entry.triggers.event) put('trigger event', { kind: 'reach', shown: JSON.stringify(entry.triggers.event) });
    if (entry.triggers.webhook) put('trigger webhook', { kind: 'reach', shown: entry.triggers.webhook });
    const network = spec.sandbox?.network;
    if (spec.sandbox)
      put('sandbox', { kind: 'reach', shown: network === 'none' ? 'network: none' : 'network: allow-list' });
    if (network && network !== 'none')
      for (const host of network.allow) put(`sandbox host ${host}`, { kind: 'reach', shown: host });
    model(put, '', catalog, entry.model);
    if (entry.fallbackModel) model(put, 'fallback ', catalog, entry.fallbackModel);
    const instructions = catalog.agents[entry.agent]!.instructions;
    put('instructions', {
      kind: 'fact',
      shown: `${instructions.path}@${instructions.version} (sha256 ${instructions.sha256.slice(0, 12)})`,
    });
    for (const skill of spec.skills) {
      const locked = catalog.agents[entry.agent]!.skillPins?.find((pin) => pin.name === skill.target)?.version;
      put(`skill ${skill.target}`, { kind: 'fact', shown: `@${skill.version}${locked ? ` (locked ${locked})` : ''}` });
    }
    for (const sub of entry.subagents) {
      put(`subagent ${sub.name}`, { kind: 'reach', shown: `${sub.role}, model ${sub.model}` });
      tools(`subagent ${sub.name} `, sub.tools);
    }
    profiles.set(entry.agent, facets);
  }
  return profiles;
}

function toolText(tool: InventoryTool): string {
  const flags = [
    tool.destructive ? 'destructive' : tool.readOnly ? 'read-only' : 'writes',
    tool.approval?.length ? `waits: ${tool.approval.join('; ')}` : 'no approval',
    tool.rateLimitPerMinute !== undefined ? `${tool.rateLimitPerMinute}/min` : '',
  ];
  return flags.filter(Boolean).join(', ');
}

function ceiling(
  put: (key: string, facet: Facet) => void,
  key: string,
  amount: number | undefined,
  show: (n: number) => string = String,
): void {
  if (amount !== undefined) put(key, { kind: 'ceiling', shown: show(amount), amount });
}

function model(put: (key: string, facet: Facet) => void, prefix: string, catalog: Catalog, name: string): void {
  const declaration = catalog.models[name]?.declaration;
  put(`${prefix}model`, { kind: 'fact', shown: `${name} (${declaration?.provider ?? 'unknown provider'})` });
  const price = declaration && 'price' in declaration ? declaration.price : undefined;
  if (price)
    put(`${prefix}model price`, {
      kind: 'fact',
      shown: `$${price.input_per_mtok}/M in, $${price.output_per_mtok}/M out${price.cached_input_per_mtok !== undefined ? `, cached $${price.cached_input_per_mtok}/M` : ''}`,
    });
}

/** One facet per guardrail rule; a rule's severity is its action's, so a softer action reads as loosened. */
function guardrails(put: (key: string, facet: Facet) => void, policy: GuardrailPolicy | undefined): void {
  if (!policy) return;
  const gate = (key: string, action: string, detail: unknown) =>
    put(`guardrail ${key}`, {
      kind: 'gate',
      shown: `${action} ${JSON.stringify(detail)}`,
      amount: ACTION_SEVERITY[action] ?? 0,
    });
  if (policy.pii) gate('pii', policy.pii.action, { detect: policy.pii.detect, stages: policy.pii.stages });
  for (const rule of policy.deny_patterns)
    gate(`deny ${rule.name}`, rule.action, { pattern: rule.pattern, stages: rule.stages });
  for (const rule of policy.allow_patterns)
    gate(`allow ${rule.name}`, rule.action, { pattern: rule.pattern, group: rule.group });
  if (policy.size_limits) {
    const { action, ...limits } = policy.size_limits;
    for (const [stage, chars] of Object.entries(limits))
      if (typeof chars === 'number')
        put(`guardrail size ${stage}`, { kind: 'ceiling', shown: `${chars} chars (${action})`, amount: chars });
  }
  if (policy.prompt_injection)
    gate('prompt_injection', policy.prompt_injection.action, { stages: policy.prompt_injection.stages });
  for (const rule of policy.custom) gate(`custom ${rule.rule}`, rule.action, { stages: rule.stages });
}
