import type { LedgerItem, OperatorMark } from '../memory/ledger.ts';
import type { HandoffNote } from '../memory/notes.ts';

/** An operator's action on an agent's memory, kept as a record of its own (who, when, what). */
export interface OperatorAction extends OperatorMark {
  agent: string;
  /** The item it touched (absent for a clear). */
  itemId?: string;
  detail: string;
}

/**
 * Loop memory on the one table (docs/loop-memory.md): an agent's ledger items and handoff
 * note versions. Every write is one conditional write, so racing runs never both win:
 * the rules of what to write are the core's (core/memory/ledger.ts).
 */
export interface MemoryStore {
  getItem(agent: string, id: string): Promise<LedgerItem | undefined>;
  /** Every item the agent's ledger holds (expired ones may linger until the TTL removes them). */
  listItems(agent: string): Promise<LedgerItem[]>;
  /** Writes the item if the stored one is still at `expectedVersion` (0: none stored); false when another write came first. */
  putItemIf(item: LedgerItem, expectedVersion: number): Promise<boolean>;
  /** Removes the item if it is still at `expectedVersion`; false when another write came first. */
  deleteItemIf(agent: string, id: string, expectedVersion: number): Promise<boolean>;
  /** The newest note versions first, at most `limit`. */
  listNotes(agent: string, limit: number): Promise<HandoffNote[]>;
  /** Writes the note if its version is free; false when another run took that number first. */
  putNoteIf(note: HandoffNote): Promise<boolean>;
  putOperatorAction(action: OperatorAction): Promise<void>;
  /** The newest first. */
  listOperatorActions(agent: string, limit: number): Promise<OperatorAction[]>;
}
