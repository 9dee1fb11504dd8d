import type { RunStore } from '../../../core/ports/run-store.ts';
import { MemoryApprovalStore } from './approvals.ts';
import { MemoryBudgetLedger } from './budgets.ts';
import { MemoryRateLimits } from './rate-limits.ts';
import { MemoryRunRecords } from './runs.ts';
import { MemorySideEffectLedger } from './side-effects.ts';
import { MemoryTables } from './tables.ts';

export {
  MemoryApprovalStore,
  MemoryBudgetLedger,
  MemoryRateLimits,
  MemoryRunRecords,
  MemorySideEffectLedger,
  MemoryTables,
};

/**
 * Every store port in memory, for tests that need no DynamoDB Local: the same semantics the
 * core relies on (test/support/store-contract/ runs the same cases against both).
 * One plain object with every method on it, like DynamoRunStore, so proxies that wrap the
 * store by method name work on it too.
 */
export function memoryRunStore(): RunStore {
  const tables = new MemoryTables();
  const ports = [
    new MemoryRunRecords(tables),
    new MemoryApprovalStore(),
    new MemoryBudgetLedger(tables),
    new MemoryRateLimits(),
    new MemorySideEffectLedger(tables),
  ];
  const store: Record<string, unknown> = {};
  for (const port of ports) {
    for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(port))) {
      if (name === 'constructor') continue;
      if (name in store) throw new Error(`two store ports both have ${name}`);
      const method = (port as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
      store[name] = method.bind(port);
    }
  }
  return store as unknown as RunStore;
}
