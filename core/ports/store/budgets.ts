import type { BudgetCharge, BudgetLine } from '../../budgets/reservation.ts';

export type RollupDimension = 'agent' | 'team' | 'model' | 'user';

export interface RollupIncrement {
  dimension: RollupDimension;
  key: string;
  /** UTC day, `2026-11-24`. */
  date: string;
  role: 'maker' | 'checker';
  costMicros: number;
  inputTokens: number;
  outputTokens: number;
  calls: number;
}

export interface RollupRow {
  dimension: RollupDimension;
  key: string;
  date: string;
  costMicros: number;
  checkerCostMicros: number;
  inputTokens: number;
  outputTokens: number;
  calls: number;
}

export type ReserveOutcome =
  | { ok: true }
  | { ok: false; line: BudgetLine; usedMicros: number; usedTokens: number; spentMicros: number; spentTokens: number };

export interface BudgetUsage {
  /** Spent plus still reserved: what a new reservation must fit beside. */
  usedMicros: number;
  usedTokens: number;
  spentMicros: number;
  spentTokens: number;
}

/**
 * The budget ledger: reservations against budget lines, their settlement, alerts, and the
 * daily spend rollups. Each method is its own transaction. Rollups are only read here:
 * they are written with the step that spent (StepCommit.rollups, on the run records port).
 */
export interface BudgetLedger {
  /**
   * Reserves a charge against every line in one transaction, each conditional on fitting
   * under its limit, with a ledger row keyed by the charge id: a retried reservation never
   * counts twice. Nothing is reserved when any line does not fit.
   */
  reserveBudget(charge: BudgetCharge): Promise<ReserveOutcome>;
  /** Replaces the charge's reservation with what it actually cost; a repeated settle changes nothing. */
  settleBudget(charge: BudgetCharge, actual: { micros: number; tokens: number }): Promise<void>;
  /**
   * Gives a reservation back and forgets the charge (the call was not made, or failed unbilled),
   * so the same charge id may be reserved again by the step's retry; a settled charge is left as it is.
   */
  releaseBudget(charge: BudgetCharge): Promise<void>;
  getBudgetUsage(scope: string, key: string, periodKey: string): Promise<BudgetUsage>;
  /** True for the first caller only: one alert per budget, period and threshold. */
  claimAlert(budget: string, periodKey: string, threshold: number, at: string): Promise<boolean>;
  listRollups(dimension: RollupDimension, fromDate: string, toDate: string): Promise<RollupRow[]>;
}
