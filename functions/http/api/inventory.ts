import * as z from '../../../core/definitions/zod.ts';
import { buildInventory } from '../../../core/policy/inventory.ts';
import { json } from '../router.ts';
import type { HttpResponse } from '../types.ts';
import type { ApiDeps, Operation } from './operation.ts';

/** The declared agents: the inventory (what each can touch) and the plain list. */

const InventoryTool = z.looseObject({
  tool: z.string(),
  readOnly: z.boolean(),
  destructive: z.boolean(),
  approval: z.optional(z.array(z.string())),
});

/** The inventory's shape is core/policy/inventory.ts's; the main fields are listed here. */
export const Inventory = z.object({
  agents: z.array(
    z.looseObject({
      agent: z.string(),
      owner: z.optional(z.string()),
      team: z.optional(z.string()),
      enabled: z.boolean(),
      model: z.string(),
      provider: z.string(),
      tools: z.array(InventoryTool),
      approvalRules: z.array(z.string()),
      budgets: z.array(z.string()),
    }),
  ),
});
export type Inventory = { agents: ReturnType<typeof buildInventory> };

export const AgentList = z.object({
  agents: z.array(
    z.object({
      name: z.string(),
      enabled: z.boolean(),
      owner: z.optional(z.string()),
      team: z.optional(z.string()),
      description: z.optional(z.string()),
    }),
  ),
});
export type AgentList = z.infer<typeof AgentList>;

async function inventory(deps: Pick<ApiDeps, 'catalog'>): Promise<HttpResponse> {
  const inventory: Inventory = { agents: buildInventory(await deps.catalog()) };
  return json(200, inventory);
}

async function listAgents(deps: Pick<ApiDeps, 'catalog'>): Promise<HttpResponse> {
  const catalog = await deps.catalog();
  const agents: AgentList['agents'] = Object.values(catalog.agents)
    .map(({ spec }) => ({
      name: spec.name,
      enabled: spec.enabled,
      owner: spec.owner,
      team: spec.team,
      description: spec.description,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return json(200, { agents } satisfies AgentList);
}

export function inventoryOperations(deps: Pick<ApiDeps, 'catalog'>): Operation[] {
  return [
    {
      method: 'GET',
      path: '/v1/inventory',
      operationId: 'inventory',
      summary: 'Every agent: owner, triggers, model, what it can touch (with flags), approvals, budgets, sub-agents',
      responses: { 200: { description: 'the inventory', schema: Inventory } },
      handle: () => inventory(deps),
    },
    {
      method: 'GET',
      path: '/v1/agents',
      operationId: 'listAgents',
      summary: 'The declared agents: name, enabled, owner',
      responses: { 200: { description: 'the agents, by name', schema: AgentList } },
      handle: () => listAgents(deps),
    },
  ];
}
