import type { MemoryPolicy } from '../definitions/memory.ts';
import { TransientError } from '../errors.ts';
import type { MemoryStore, OperatorAction } from '../ports/memory-store.ts';
import { asOfNow, operatorTransition, type LedgerItem, type Transition } from './ledger.ts';
import { nextNote, type HandoffNote } from './notes.ts';

/**
 * Loop memory's writes over the MemoryStore port: read, let the core decide, write on the
 * condition that nobody wrote in between, and decide again when somebody did. Each lost race
 * means another writer got through, so with N writers at most N rounds are needed.
 */
const MAX_ROUNDS = 64;

/** One item's write, decided by `decide` from what is stored, retried while others win the race. */
export async function writeItem(
  store: MemoryStore,
  agent: string,
  id: string,
  decide: (found: LedgerItem | undefined) => Transition,
): Promise<Transition> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const found = await store.getItem(agent, id);
    const transition = decide(found);
    if (transition.kind !== 'write') return transition;
    if (await store.putItemIf(transition.item, found?.version ?? 0)) return transition;
  }
  throw new TransientError(`ledger item "${id}" of ${agent}: ${MAX_ROUNDS} writes raced it in a row; try again`);
}

/** The newest note, if any. */
export async function latestNote(store: MemoryStore, agent: string): Promise<HandoffNote | undefined> {
  return (await store.listNotes(agent, 1))[0];
}

/** Adds a note version (or finds the same call's, written by an earlier attempt). */
export async function writeNote(
  store: MemoryStore,
  fields: Pick<HandoffNote, 'agent' | 'runId' | 'callId' | 'source' | 'text'>,
  policy: MemoryPolicy,
  now: Date,
): Promise<HandoffNote> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = nextNote(await latestNote(store, fields.agent), fields, policy, now);
    if (next.kind === 'applied' || (await store.putNoteIf(next.note))) return next.note;
  }
  throw new TransientError(`the handoff note of ${fields.agent}: ${MAX_ROUNDS} writes raced it in a row; try again`);
}

/** An agent's ledger as of now, by state then id: what `looprail memory` and the list tool show. */
export async function ledgerNow(store: MemoryStore, agent: string, now: Date): Promise<LedgerItem[]> {
  const order = ['claimed', 'open', 'failed', 'needs_human', 'done'];
  return (await store.listItems(agent))
    .filter((item) => item.expiresAt * 1000 > now.getTime())
    .map((item) => asOfNow(item, now))
    .sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state) || a.id.localeCompare(b.id));
}

/** An operator reopens an item or marks it done: the item carries who and when, and the action is recorded. */
export async function operatorMark(
  store: MemoryStore,
  agent: string,
  id: string,
  mark: { action: 'reopen' | 'done'; by: string },
  policy: MemoryPolicy,
  now: Date,
): Promise<Transition> {
  const at = now.toISOString();
  const result = await writeItem(store, agent, id, (found) =>
    operatorTransition(found, id, { ...mark, at }, policy, now),
  );
  if (result.kind === 'write') {
    await store.putOperatorAction({ agent, itemId: id, ...mark, at, detail: result.message });
  }
  return result;
}

/**
 * An operator clears the ledger: every item is removed, a note version says so (earlier
 * notes no longer apply), and the action is recorded. Returns how many items went.
 */
export async function clearLedger(
  store: MemoryStore,
  agent: string,
  by: string,
  policy: MemoryPolicy,
  now: Date,
): Promise<number> {
  let removed = 0;
  for (const item of await store.listItems(agent)) {
    if (await store.deleteItemIf(agent, item.id, item.version)) removed++;
  }
  const at = now.toISOString();
  const text = `The ledger was cleared by ${by} at ${at}: earlier notes and items no longer apply.`;
  await writeNote(store, { agent, runId: 'operator', callId: `clear@${at}`, source: 'operator', text }, policy, now);
  const action: OperatorAction = { agent, action: 'clear', by, at, detail: `${removed} items removed` };
  await store.putOperatorAction(action);
  return removed;
}
