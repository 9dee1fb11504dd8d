import { describe } from 'vitest';
import type { RunStore } from '../../../core/ports/run-store.ts';
import { ledgersContract } from './ledgers.ts';
import { listingsContract } from './listings.ts';
import { runRecordsContract } from './runs.ts';

/**
 * The store ports' semantics that the core relies on, as one suite run against every
 * implementation: the DynamoDB adapter (test/integration/run-store.test.ts) and the
 * in-memory one the step unit tests use (test/unit/memory-store.test.ts). `fresh` gives
 * an empty store (listings need one of their own).
 */
export function runStoreContract(name: string, fresh: () => Promise<RunStore>): void {
  describe(`${name}: the store ports' contract`, () => {
    runRecordsContract(fresh);
    listingsContract(fresh);
    ledgersContract(fresh);
  });
}
