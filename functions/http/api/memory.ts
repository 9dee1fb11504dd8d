import * as z from '../../../core/definitions/zod.ts';
import { LEDGER_STATES, type LedgerItem } from '../../../core/memory/ledger.ts';
import {
  actOnMemory,
  agentMemory,
  readMemory,
  type MemoryAction,
  type MemoryView,
} from '../../../core/memory/operator.ts';
import { HttpError, json, parseBody, parseQuery, ProblemBody } from '../router.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';
import { principalOf, type ApiDeps, type Operation } from './operation.ts';

/**
 * An agent's loop memory (docs/loop-memory.md): read its ledger and notes, and reopen an
 * item, mark one done or clear the ledger, recorded with the caller's principal as
 * `looprail memory` records its user. The rules are the core's (core/memory/operator.ts).
 */

// Request schemas.

export const MemoryQuery = z.strictObject({
  state: z.optional(z.enum(LEDGER_STATES)).check(z.meta({ description: 'only the items in this state' })),
  limit: z
    ._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 200)
    .check(z.meta({ description: 'ledger items at most, by state then id; `total` says how many there are' })),
  notes: z
    ._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20)
    .check(z.meta({ description: 'note versions, newest first' })),
  actions: z
    ._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20)
    .check(z.meta({ description: 'operator actions, newest first' })),
});
export type MemoryQuery = z.input<typeof MemoryQuery>;

const ItemId = z
  .string()
  .check(z.minLength(1), z.maxLength(1024), z.meta({ description: "the item's own key, as the run claimed it" }));

export const MemoryActionBody = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('reopen').check(z.meta({ description: 'back to open, its attempts counted again from zero' })),
    id: ItemId,
  }),
  z.strictObject({
    action: z.literal('done').check(z.meta({ description: 'mark the item done by hand' })),
    id: ItemId,
  }),
  z.strictObject({
    action: z
      .literal('clear')
      .check(z.meta({ description: 'remove every item of the ledger; a note version tells the next run' })),
    id: z.optional(z.never({ error: 'clear acts on the whole ledger: send no id' })),
  }),
]);
export type MemoryActionBody = z.infer<typeof MemoryActionBody>;

// Response schemas: the core's types, the main fields named.

const OperatorMark = z.object({ action: z.enum(['reopen', 'done', 'clear']), by: z.string(), at: z.string() });

const LedgerItemSchema = z.looseObject({
  id: z.string(),
  state: z.enum(LEDGER_STATES),
  attempts: z.number().check(z.int()),
  runId: z.optional(z.string()).check(z.meta({ description: 'the run that last claimed or finished it' })),
  leaseUntil: z.optional(z.string()),
  outcome: z.optional(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
  operator: z.optional(OperatorMark).check(z.meta({ description: "the last operator's action on it: who and when" })),
});

const HandoffNoteSchema = z.looseObject({
  version: z.number().check(z.int()),
  runId: z.string().check(z.meta({ description: 'the run that wrote it (`operator` for a clear)' })),
  source: z.optional(z.enum(['tool', 'final_answer', 'operator'])),
  text: z.string(),
  at: z.string(),
});

export const AgentMemoryView = z.object({
  agent: z.string(),
  policy: z.looseObject({
    retentionSeconds: z.number().check(z.int()),
    leaseSeconds: z.number().check(z.int()),
    maxAttempts: z.number().check(z.int()),
  }),
  items: z.array(LedgerItemSchema),
  total: z
    .number()
    .check(z.int(), z.meta({ description: 'the items there are (in `state`): more than `items` when cut' })),
  notes: z.array(HandoffNoteSchema),
  operatorActions: z.array(
    z
      .extend(OperatorMark, { itemId: z.optional(z.string()), detail: z.string() })
      .check(z.meta({ description: 'newest first' })),
  ),
});
/** What GET answers is the core's view as it is. */
export type AgentMemoryView = MemoryView;

export const MemoryActionResponse = z.object({
  agent: z.string(),
  action: z.enum(['reopen', 'done', 'clear']),
  message: z.string(),
  item: z.optional(LedgerItemSchema).check(z.meta({ description: 'the item as it is now (reopen, done)' })),
  removed: z.optional(z.number().check(z.int())).check(z.meta({ description: 'how many items went (clear)' })),
});
/** What POST answers: the item as the core wrote it. */
export interface MemoryActionResponse {
  agent: string;
  action: MemoryAction['action'];
  message: string;
  item?: LedgerItem;
  removed?: number;
}

/** The agent's memory settings and the store, or the answer saying why there are none. */
async function memoryOf(deps: Pick<ApiDeps, 'catalog' | 'memory'>, agent: string) {
  const found = agentMemory(await deps.catalog(), agent);
  if (found.kind === 'unknown_agent') throw new HttpError(404, 'not_found', found.message, { field: 'agent' });
  if (found.kind === 'no_memory') throw new HttpError(409, 'no_memory', found.message, { field: 'agent' });
  if (!deps.memory) throw new HttpError(503, 'memory_unavailable', 'this host was composed without the memory store');
  return { store: deps.memory, policy: found.policy };
}

async function read(deps: ApiDeps, request: HttpRequest, agent: string): Promise<HttpResponse> {
  const query = parseQuery(request, MemoryQuery);
  const { store, policy } = await memoryOf(deps, agent);
  const view = await readMemory(store, agent, policy, query, deps.clock.now());
  return json(200, view);
}

async function act(deps: ApiDeps, request: HttpRequest, agent: string): Promise<HttpResponse> {
  const body = parseBody(request, MemoryActionBody);
  const by = principalOf(request);
  const { store, policy } = await memoryOf(deps, agent);
  const result = await actOnMemory(store, agent, policy, { ...body, by }, deps.clock.now());
  if (!result.ok) throw new HttpError(404, result.problem, result.message, { field: 'id' });
  const answer: MemoryActionResponse = {
    agent,
    action: body.action,
    message: result.message,
    ...(result.item ? { item: result.item } : {}),
    ...(result.removed === undefined ? {} : { removed: result.removed }),
  };
  return json(200, answer);
}

export function memoryOperations(deps: ApiDeps): Operation[] {
  return [
    {
      method: 'GET',
      path: '/v1/agents/:agent/memory',
      operationId: 'getAgentMemory',
      summary:
        "An agent's loop memory: the work ledger as of now by state, the newest notes with their runs, operator actions",
      query: MemoryQuery,
      responses: {
        200: { description: 'the memory', schema: AgentMemoryView },
        409: { description: 'the agent declares no `memory:`', schema: ProblemBody },
      },
      handle: (request, params) => read(deps, request, params.agent!),
    },
    {
      method: 'POST',
      path: '/v1/agents/:agent/memory',
      operationId: 'actOnAgentMemory',
      summary:
        "Reopen a ledger item, mark one done, or clear the agent's ledger; recorded with the caller's principal and the time",
      body: MemoryActionBody,
      responses: {
        200: { description: 'done, and recorded as an operator action', schema: MemoryActionResponse },
        404: { description: 'no such agent, or no such item in its ledger (`error.field`)', schema: ProblemBody },
        409: { description: 'the agent declares no `memory:`', schema: ProblemBody },
      },
      handle: (request, params) => act(deps, request, params.agent!),
    },
  ];
}
