import { ValidationError } from '../../../core/errors.ts';
import type { RollupDimension, RollupRow } from '../../../core/ports/store/budgets.ts';

/**
 * The state the in-memory ports share, as the one DynamoDB table is shared by its adapters:
 * the run records port writes rollups and concurrency slots inside its commits, the budget
 * ledger reads the rollups. Values are kept as JSON text, so what a caller gets back is
 * never the object it passed in (as with DynamoDB), and undefined fields vanish the same way.
 */
export class MemoryTables {
  /** `CONC#<agent>`: runs in flight. */
  readonly inFlight = new Map<string, number>();
  /** `ROLLUP#<dimension>` → rows by `<date>#<key>` (the GSI's sort key, so listing order matches). */
  readonly rollups = new Map<RollupDimension, Map<string, RollupCounters>>();
  /** `IDEM#<run>/<call>`: side-effecting calls, claimed and then completed (side-effects.ts). */
  readonly sideEffects = new Map<string, StoredCall>();
}

/** A claimed call; its outcome as JSON text once completed. */
export interface StoredCall {
  tool: string;
  startedAt: string;
  recorded?: string;
  completedAt?: string;
}

/** A rollup row as the port returns it, stored under its dimension. */
export type RollupCounters = Omit<RollupRow, 'dimension'>;

/** A stored copy, as DynamoDB would give it back: a fresh object, undefined fields gone. */
export function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** DynamoDB's largest item. */
export const MAX_ITEM_BYTES = 400 * 1024;

/** What DynamoDB says of an item over its size limit (the adapter turns it into a ValidationError). */
export function checkItemSize(operation: string, value: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  if (bytes > MAX_ITEM_BYTES)
    throw new ValidationError(`DynamoDB rejected ${operation}: Item size has exceeded the maximum allowed size`);
}

/** Key parts are non-empty and free of `#` (adapters/dynamodb/keys.ts): the same ids fail here. */
export function keyPart(label: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('#')) {
    throw new ValidationError(`${label} must be a non-empty string without '#', got ${JSON.stringify(value)}`);
  }
  return value;
}
