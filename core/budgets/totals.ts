import type { RollupRow } from '../ports/store/budgets.ts';

export interface CostLine {
  key: string;
  costMicros: number;
  checkerCostMicros: number;
  inputTokens: number;
  outputTokens: number;
  calls: number;
}

/** Days summed per key, most expensive first. */
export function totalsByKey(rows: RollupRow[]): CostLine[] {
  const byKey = new Map<string, CostLine>();
  for (const row of rows) {
    const line = byKey.get(row.key) ?? {
      key: row.key,
      costMicros: 0,
      checkerCostMicros: 0,
      inputTokens: 0,
      outputTokens: 0,
      calls: 0,
    };
    line.costMicros += row.costMicros;
    line.checkerCostMicros += row.checkerCostMicros;
    line.inputTokens += row.inputTokens;
    line.outputTokens += row.outputTokens;
    line.calls += row.calls;
    byKey.set(row.key, line);
  }
  return [...byKey.values()].sort((a, b) => b.costMicros - a.costMicros || a.key.localeCompare(b.key));
}
