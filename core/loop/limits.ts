import type { ResolvedLimits } from '../definitions/context.ts';
import { runUsage, totalTokens, type RunMeta, type StopReason } from '../definitions/run.ts';
import { formatUsd } from '../format/usd.ts';

export interface StopDecision {
  reason: StopReason;
  detail: string;
}

/** Checked before each model call: time, steps and spend already used. */
export function limitBeforeModelCall(meta: RunMeta, limits: ResolvedLimits, now: Date): StopDecision | null {
  if (limits.maxDurationSeconds !== undefined && meta.startedAt) {
    const elapsed = (now.getTime() - Date.parse(meta.startedAt)) / 1000;
    if (elapsed >= limits.maxDurationSeconds) {
      return {
        reason: 'timeout',
        detail: `ran ${Math.floor(elapsed)} s; the limit is ${limits.maxDurationSeconds} s (harness.max_duration)`,
      };
    }
  }
  if (meta.modelCalls >= limits.maxSteps) {
    return {
      reason: 'max_steps',
      detail: `made ${meta.modelCalls} model calls; the limit is ${limits.maxSteps} (harness.max_steps)`,
    };
  }
  return spendLimit(meta, limits);
}

/** Checked after each model call: a run over its ceiling does nothing more. */
export function spendLimit(meta: RunMeta, limits: ResolvedLimits): StopDecision | null {
  const usage = runUsage(meta);
  const tokens = totalTokens(usage);
  if (limits.maxTokens !== undefined && tokens >= limits.maxTokens) {
    return {
      reason: 'token_budget',
      detail: `used ${tokens} tokens; the limit is ${limits.maxTokens} (harness.max_tokens_per_run)`,
    };
  }
  if (limits.maxCostMicros !== undefined && usage.costMicros >= limits.maxCostMicros) {
    return {
      reason: 'budget_exhausted',
      detail: `spent ${formatUsd(usage.costMicros)}; the run's ceiling is ${formatUsd(limits.maxCostMicros)} (harness.max_cost_usd)`,
    };
  }
  return null;
}

/**
 * The run's own ceilings, applied before a call the way budgets are: a call whose worst
 * case would take the run past max_cost_usd or max_tokens_per_run is not made.
 */
export function runCeiling(
  meta: RunMeta,
  limits: ResolvedLimits,
  worst: { micros: number; tokens: number },
): StopDecision | null {
  const usage = runUsage(meta);
  const tokens = totalTokens(usage);
  if (limits.maxTokens !== undefined && tokens + worst.tokens > limits.maxTokens) {
    return {
      reason: 'token_budget',
      detail: `used ${tokens} tokens; the next call could use up to ${worst.tokens} more, past the limit of ${limits.maxTokens} (harness.max_tokens_per_run)`,
    };
  }
  if (limits.maxCostMicros !== undefined && usage.costMicros + worst.micros > limits.maxCostMicros) {
    return {
      reason: 'budget_exhausted',
      detail: `spent ${formatUsd(usage.costMicros)}; the next call could cost up to ${formatUsd(worst.micros)} more, past the run's ceiling of ${formatUsd(limits.maxCostMicros)} (harness.max_cost_usd)`,
    };
  }
  return null;
}
