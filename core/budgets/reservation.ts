import type { BudgetDeclaration } from '../definitions/org.ts';
import type { Price } from '../definitions/org.ts';
import { usdToMicros } from './pricing.ts';
import { formatUsd } from '../format/usd.ts';
import { periodKey } from './periods.ts';

/**
 * Before each model call the gateway reserves the call's worst case against every budget
 * that applies; after the call it settles the actual cost and releases the rest. A call
 * that does not fit is not made.
 */

export interface BudgetLine {
  name: string;
  scope: 'agent' | 'team' | 'user' | 'model';
  key: string;
  period: 'day' | 'week' | 'month';
  periodKey: string;
  limitMicros?: number;
  limitTokens?: number;
  /** What this charge reserves against it. */
  reserveMicros: number;
  reserveTokens: number;
  /** Fractions of the limit that alert once per period, and where the alerts go. */
  alertThresholds?: number[];
  alerts?: BudgetDeclaration['alerts'];
  onExhausted?: 'stop' | 'pause_for_human';
}

export interface BudgetCharge {
  chargeId: string;
  runId: string;
  lines: BudgetLine[];
  at: string;
}

export interface ChargeSubject {
  agent: string;
  team?: string;
  principal: string;
  model: string;
}

/** The budgets that apply to a call: every one naming its agent, team, principal or model. */
export function applicableBudgets(budgets: BudgetDeclaration[], subject: ChargeSubject): BudgetDeclaration[] {
  return budgets.filter(
    (budget) =>
      (budget.agent !== undefined && budget.agent === subject.agent) ||
      (budget.team !== undefined && budget.team === subject.team) ||
      (budget.user !== undefined && budget.user === subject.principal) ||
      (budget.model !== undefined && budget.model === subject.model),
  );
}

/**
 * A call's worst case: its prompt at a conservative 2.5 characters a token (real tokenizers
 * give 3.5–4.5 for English and code), all of it uncached, plus every output token it may use.
 */
export function worstCase(
  price: Price,
  promptChars: number,
  maxOutputTokens: number,
): { micros: number; tokens: number } {
  const inputTokens = Math.ceil(promptChars / 2.5);
  return {
    tokens: inputTokens + maxOutputTokens,
    micros: Math.ceil(inputTokens * price.input_per_mtok + maxOutputTokens * price.output_per_mtok),
  };
}

/**
 * The lines a call reserves against. `allowances` are extra micro-USD approvers gave this
 * run on a budget that pauses instead of stopping: the run may go that far past the limit.
 */
export function budgetLines(
  budgets: BudgetDeclaration[],
  subject: ChargeSubject,
  at: Date,
  reserve: { micros: number; tokens: number },
  allowances: Record<string, number> = {},
): BudgetLine[] {
  return applicableBudgets(budgets, subject).map((budget) => {
    const scope =
      budget.agent !== undefined
        ? 'agent'
        : budget.team !== undefined
          ? 'team'
          : budget.user !== undefined
            ? 'user'
            : 'model';
    const key = budget.agent ?? budget.team ?? budget.user ?? budget.model!;
    return {
      name: budget.name,
      scope,
      key,
      period: budget.period,
      periodKey: periodKey(budget.period, at),
      limitMicros:
        budget.limit_usd !== undefined ? usdToMicros(budget.limit_usd) + (allowances[budget.name] ?? 0) : undefined,
      limitTokens: budget.limit_tokens,
      reserveMicros: reserve.micros,
      reserveTokens: reserve.tokens,
      ...(budget.alerts.length > 0 ? { alertThresholds: budget.alert_thresholds, alerts: budget.alerts } : {}),
      onExhausted: budget.on_exhausted,
    };
  });
}

/** A line that cannot fit even on its own (the worst case exceeds the whole limit). */
export function neverFits(line: BudgetLine): boolean {
  return (
    (line.limitMicros !== undefined && line.reserveMicros > line.limitMicros) ||
    (line.limitTokens !== undefined && line.reserveTokens > line.limitTokens)
  );
}

/** True when what is already spent leaves room for this charge: only others' reservations are in the way. */
export function fitsBesideSpend(line: BudgetLine, spent: { micros: number; tokens: number }): boolean {
  return (
    (line.limitMicros === undefined || spent.micros + line.reserveMicros <= line.limitMicros) &&
    (line.limitTokens === undefined || spent.tokens + line.reserveTokens <= line.limitTokens)
  );
}

export function describeLine(line: BudgetLine): string {
  const limits = [
    line.limitMicros !== undefined ? formatUsd(line.limitMicros) : '',
    line.limitTokens !== undefined ? `${line.limitTokens} tokens` : '',
  ]
    .filter(Boolean)
    .join(' / ');
  return `budget ${line.name} (${line.scope} ${line.key}, ${line.period} ${line.periodKey}, limit ${limits})`;
}

/** Thresholds a budget has reached, as fractions (0.5, 0.8, 1): spent against the limit, micros or tokens. */
export function reachedThresholds(line: BudgetLine, spent: { micros: number; tokens: number }): number[] {
  const fraction = Math.max(
    line.limitMicros ? spent.micros / line.limitMicros : 0,
    line.limitTokens ? spent.tokens / line.limitTokens : 0,
  );
  return (line.alertThresholds ?? []).filter((threshold) => fraction >= threshold);
}
