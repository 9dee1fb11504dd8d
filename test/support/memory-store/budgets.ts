import type { BudgetCharge, BudgetLine } from '../../../core/budgets/reservation.ts';
import { ValidationError } from '../../../core/errors.ts';
import type {
  BudgetLedger,
  BudgetUsage,
  ReserveOutcome,
  RollupDimension,
  RollupIncrement,
  RollupRow,
} from '../../../core/ports/store/budgets.ts';
import { keyPart, type MemoryTables } from './tables.ts';

interface LineCounters extends BudgetUsage {
  reservedMicros: number;
  reservedTokens: number;
}

interface ChargeRow {
  status: 'reserved' | 'settled';
  lines: BudgetLine[];
}

/**
 * The budget ledger in memory, with the adapter's conditions: a charge id is reserved once,
 * a reservation fits under every line or reserves nothing, settle and release act only on a
 * reserved charge (so repeats change nothing).
 */
export class MemoryBudgetLedger implements BudgetLedger {
  private readonly counters = new Map<string, LineCounters>();
  private readonly charges = new Map<string, ChargeRow>();
  private readonly alerts = new Set<string>();
  private readonly tables: MemoryTables;

  constructor(tables: MemoryTables) {
    this.tables = tables;
  }

  async reserveBudget(charge: BudgetCharge): Promise<ReserveOutcome> {
    const lineKeys = oneOperationPerItem('reserveBudget', charge.lines);
    // The ledger row exists: this charge was reserved already (a retry), nothing more to do.
    if (this.charges.has(keyPart('charge id', charge.chargeId))) return { ok: true };
    const refused = charge.lines.find((line) => !fits(this.#usage(lineKey(line)), line));
    if (refused)
      return {
        ok: false,
        line: refused,
        ...(await this.getBudgetUsage(refused.scope, refused.key, refused.periodKey)),
      };
    this.charges.set(charge.chargeId, { status: 'reserved', lines: charge.lines });
    charge.lines.forEach((line, index) => {
      this.#add(lineKeys[index]!, {
        usedMicros: line.reserveMicros,
        usedTokens: line.reserveTokens,
        reservedMicros: line.reserveMicros,
        reservedTokens: line.reserveTokens,
      });
    });
    return { ok: true };
  }

  async settleBudget(charge: BudgetCharge, actual: { micros: number; tokens: number }): Promise<void> {
    const lineKeys = oneOperationPerItem('settleBudget', charge.lines);
    const row = this.charges.get(keyPart('charge id', charge.chargeId));
    if (row?.status !== 'reserved') return; // settled already (a retry), or never reserved
    row.status = 'settled';
    charge.lines.forEach((line, index) => {
      this.#add(lineKeys[index]!, {
        usedMicros: actual.micros - line.reserveMicros,
        usedTokens: actual.tokens - line.reserveTokens,
        spentMicros: actual.micros,
        spentTokens: actual.tokens,
        reservedMicros: -line.reserveMicros,
        reservedTokens: -line.reserveTokens,
      });
    });
  }

  async releaseBudget(charge: BudgetCharge): Promise<void> {
    const lineKeys = oneOperationPerItem('releaseBudget', charge.lines);
    const row = this.charges.get(keyPart('charge id', charge.chargeId));
    if (row?.status !== 'reserved') return; // released already, never reserved, or settled
    this.charges.delete(charge.chargeId);
    charge.lines.forEach((line, index) => {
      this.#add(lineKeys[index]!, {
        usedMicros: -line.reserveMicros,
        usedTokens: -line.reserveTokens,
        reservedMicros: -line.reserveMicros,
        reservedTokens: -line.reserveTokens,
      });
    });
  }

  async getBudgetUsage(scope: string, key: string, periodKey: string): Promise<BudgetUsage> {
    const { usedMicros, usedTokens, spentMicros, spentTokens } = this.#usage(budgetKey(scope, key, periodKey));
    return { usedMicros, usedTokens, spentMicros, spentTokens };
  }

  async claimAlert(budget: string, periodKey: string, threshold: number, _at: string): Promise<boolean> {
    const key = `${keyPart('budget name', budget)}#${keyPart('budget period', periodKey)}#${threshold}`;
    if (this.alerts.has(key)) return false;
    this.alerts.add(key);
    return true;
  }

  async listRollups(dimension: RollupDimension, fromDate: string, toDate: string): Promise<RollupRow[]> {
    const rows = this.tables.rollups.get(dimension) ?? new Map();
    // The GSI's range: `<date>#<key>` BETWEEN fromDate AND `<toDate>#\uffff`, in sort-key order.
    return [...rows.entries()]
      .filter(([sortKey]) => sortKey >= fromDate && sortKey <= `${toDate}#\uffff`)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, row]) => ({ dimension, ...row }));
  }

  #usage(key: string): LineCounters {
    return (
      this.counters.get(key) ?? {
        usedMicros: 0,
        usedTokens: 0,
        spentMicros: 0,
        spentTokens: 0,
        reservedMicros: 0,
        reservedTokens: 0,
      }
    );
  }

  #add(key: string, delta: Partial<LineCounters>): void {
    const counters = this.#usage(key);
    for (const [name, value] of Object.entries(delta) as Array<[keyof LineCounters, number]>) counters[name] += value;
    this.counters.set(key, counters);
  }
}

/** A step's spend added to its daily rollup rows: the run records port calls this inside a commit. */
export function addRollup(tables: MemoryTables, rollup: RollupIncrement): void {
  const rows = tables.rollups.get(rollup.dimension) ?? new Map();
  tables.rollups.set(rollup.dimension, rows);
  const sortKey = `${keyPart('rollup date', rollup.date)}#${encodeURIComponent(rollup.key)}`;
  const row = rows.get(sortKey) ?? {
    key: rollup.key,
    date: rollup.date,
    costMicros: 0,
    checkerCostMicros: 0,
    inputTokens: 0,
    outputTokens: 0,
    calls: 0,
  };
  row.costMicros += rollup.costMicros;
  row.checkerCostMicros += rollup.role === 'checker' ? rollup.costMicros : 0;
  row.inputTokens += rollup.inputTokens;
  row.outputTokens += rollup.outputTokens;
  row.calls += rollup.calls;
  rows.set(sortKey, row);
}

/** "used + this ≤ limit" on every limit the line has. */
function fits(used: BudgetUsage, line: BudgetLine): boolean {
  return (
    (line.limitMicros === undefined || used.usedMicros <= line.limitMicros - line.reserveMicros) &&
    (line.limitTokens === undefined || used.usedTokens <= line.limitTokens - line.reserveTokens)
  );
}

function budgetKey(scope: string, key: string, period: string): string {
  const encodedKey = encodeURIComponent(keyPart('budget key', key));
  return `${keyPart('budget scope', scope)}#${encodedKey}#${keyPart('budget period', period)}`;
}

function lineKey(line: BudgetLine): string {
  return budgetKey(line.scope, line.key, line.periodKey);
}

/** A DynamoDB transaction may touch an item once: two lines on the same counters are refused there, so here too. */
function oneOperationPerItem(operation: string, lines: BudgetLine[]): string[] {
  const keys = lines.map(lineKey);
  if (new Set(keys).size !== keys.length) {
    throw new ValidationError(
      `DynamoDB rejected ${operation}: Transaction request cannot include multiple operations on one item`,
    );
  }
  return keys;
}
