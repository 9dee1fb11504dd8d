import { agentEntry, type Catalog } from '../definitions/catalog.ts';
import { resolveMemory, type MemoryPolicy } from '../definitions/memory.ts';
import type { MemoryStore, OperatorAction } from '../ports/memory-store.ts';
import type { LedgerItem, LedgerState } from './ledger.ts';
import type { HandoffNote } from './notes.ts';
import { clearLedger, ledgerNow, operatorMark } from './operations.ts';

/**
 * What an operator sees of an agent's loop memory and what they may do to it, in one place
 * for both doors: `looprail memory` on the local state and the API's
 * `/v1/agents/{agent}/memory` on a deployed stack (docs/loop-memory.md). Each door only
 * parses its input and prints or serializes these results.
 */

/** The agent's memory settings, or why there are none to act on. */
export type AgentMemory =
  | { kind: 'memory'; policy: MemoryPolicy }
  | { kind: 'unknown_agent'; message: string }
  | { kind: 'no_memory'; message: string };

export function agentMemory(catalog: Catalog, agent: string): AgentMemory {
  // Own keys only: a path segment such as `constructor` names no agent.
  const entry = agentEntry(catalog, agent);
  if (!entry) {
    const known = Object.keys(catalog.agents).sort().join(', ') || 'none';
    return { kind: 'unknown_agent', message: `unknown agent "${agent}" (known: ${known})` };
  }
  const policy = resolveMemory(entry.spec.memory);
  if (!policy) {
    return { kind: 'no_memory', message: `agent "${agent}" declares no memory: add \`memory:\` to its definition` };
  }
  return { kind: 'memory', policy };
}

/** An agent's memory as an operator reads it: the ledger as of now, the newest notes and operator actions. */
export interface MemoryView {
  agent: string;
  policy: MemoryPolicy;
  /** As of now, by state (claimed, open, failed, needs_human, done) then id; at most `limit`. */
  items: LedgerItem[];
  /** How many items there are (in `state`, when one was asked for): more than `items` when the limit cut them. */
  total: number;
  /** Newest first, each with the run that wrote it. */
  notes: HandoffNote[];
  /** Newest first. */
  operatorActions: OperatorAction[];
}

export interface MemoryViewQuery {
  state?: LedgerState;
  /** Ledger items at most (absent: all). */
  limit?: number;
  notes: number;
  actions: number;
}

export async function readMemory(
  store: MemoryStore,
  agent: string,
  policy: MemoryPolicy,
  query: MemoryViewQuery,
  now: Date,
): Promise<MemoryView> {
  const all = (await ledgerNow(store, agent, now)).filter((item) => !query.state || item.state === query.state);
  const [notes, operatorActions] = await Promise.all([
    store.listNotes(agent, query.notes),
    store.listOperatorActions(agent, query.actions),
  ]);
  const items = query.limit === undefined ? all : all.slice(0, query.limit);
  return { agent, policy, items, total: all.length, notes, operatorActions };
}

/** What an operator asks for: one item reopened or marked done, or the whole ledger cleared. */
export type MemoryAction = { action: 'reopen' | 'done'; id: string } | { action: 'clear' };

export type MemoryActionResult =
  | { ok: true; message: string; item?: LedgerItem; removed?: number }
  /** The ledger holds no item by that id. */
  | { ok: false; problem: 'unknown_item'; message: string };

/** Carries out the action, recorded with `by` (the CLI's local user, the API's principal) and `now`. */
export async function actOnMemory(
  store: MemoryStore,
  agent: string,
  policy: MemoryPolicy,
  request: MemoryAction & { by: string },
  now: Date,
): Promise<MemoryActionResult> {
  const { by } = request;
  if (request.action === 'clear') {
    const removed = await clearLedger(store, agent, by, policy, now);
    const message = `cleared ${removed} item${removed === 1 ? '' : 's'} of ${agent}'s ledger (recorded as ${by})`;
    return { ok: true, message, removed };
  }
  const result = await operatorMark(store, agent, request.id, { action: request.action, by }, policy, now);
  // operatorTransition refuses a mark for one reason only: the ledger has no such item.
  if (result.kind === 'refused') return { ok: false, problem: 'unknown_item', message: result.reason };
  return { ok: true, message: result.message, item: result.item };
}
