import * as z from 'zod';
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
  state: z.enum(LEDGER_STATES).optional().meta({ description: 'only the items in this state' }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(200)
    .meta({ description: 'ledger items at most, by state then id; `total` says how many there are' }),
  notes: z.coerce.number().int().min(1).max(100).default(20).meta({ description: 'note versions, newest first' }),
  actions: z.coerce.number().int().min(1).max(100).default(20).meta({ description: 'operator actions, newest first' }),
});
export type MemoryQuery = z.input<typeof MemoryQuery>;

const ItemId = z.string().min(1).max(1024).meta({ description: "the item's own key, as the run claimed it" });

export const MemoryActionBody = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('reopen').meta({ description: 'back to open, its attempts counted again from zero' }),
    id: ItemId,
  }),
  z.strictObject({ action: z.literal('done').meta({ description: 'mark the item done by hand' }), id: ItemId }),
  z.strictObject({
    action: z
      .literal('clear')
      .meta({ description: 'remove every item of the ledger; a note version tells the next run' }),
    id: z.never({ error: 'clear acts on the whole ledger: send no id' }).optional(),
  }),
]);
export type MemoryActionBody = z.infer<typeof MemoryActionBody>;

// Response schemas: the core's types, the main fields named.

const OperatorMark = z.object({ action: z.enum(['reopen', 'done', 'clear']), by: z.string(), at: z.string() });

const LedgerItemSchema = z.looseObject({
  id: z.string(),
  state: z.enum(LEDGER_STATES),
  attempts: z.number().int(),
  runId: z.string().optional().meta({ description: 'the run that last claimed or finished it' }),
  leaseUntil: z.string().optional(),
  outcome: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  operator: OperatorMark.optional().meta({ description: "the last operator's action on it: who and when" }),
});

const HandoffNoteSchema = z.looseObject({
  version: z.number().int(),
  runId: z.string().meta({ description: 'the run that wrote it (`operator` for a clear)' }),
  source: z.enum(['tool', 'final_answer', 'operator']).optional(),
  text: z.string(),
  at: z.string(),
});

export const AgentMemoryView = z.object({
  agent: z.string(),
  policy: z.looseObject({
    retentionSeconds: z.number().int(),
    leaseSeconds: z.number().int(),
    maxAttempts: z.number().int(),
  }),
  items: z.array(LedgerItemSchema),
  total: z.number().int().meta({ description: 'the items there are (in `state`): more than `items` when cut' }),
  notes: z.array(HandoffNoteSchema),
  operatorActions: z.array(
    OperatorMark.extend({ itemId: z.string().optional(), detail: z.string() }).meta({ description: 'newest first' }),
  ),
});
/** What GET answers is the core's view as it is. */
export type AgentMemoryView = MemoryView;

export const MemoryActionResponse = z.object({
  agent: z.string(),
  action: z.enum(['reopen', 'done', 'clear']),
  message: z.string(),
  item: LedgerItemSchema.optional().meta({ description: 'the item as it is now (reopen, done)' }),
  removed: z.number().int().optional().meta({ description: 'how many items went (clear)' }),
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
