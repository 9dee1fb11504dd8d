import type { ApprovalStore } from './store/approvals.ts';
import type { BudgetLedger } from './store/budgets.ts';
import type { RateLimitStore } from './store/rate-limits.ts';
import type { RunRecordStore } from './store/runs.ts';
import type { SideEffectLedger } from './store/side-effects.ts';

/**
 * The run's state in one table (docs/architecture.md), as the ports it is made of: each
 * port owns the transactions it writes, so a caller that needs only one names only that.
 * Composition roots supply all of them in one object.
 */
export type RunStore = RunRecordStore & ApprovalStore & BudgetLedger & RateLimitStore & SideEffectLedger;

export type { ApprovalStore, BudgetLedger, RateLimitStore, RunRecordStore, SideEffectLedger };
// The ports' types, for callers that still import them from here.
export type { ApprovalDecision, ApprovalRecord } from './store/approvals.ts';
export type { BudgetUsage, ReserveOutcome, RollupDimension, RollupIncrement, RollupRow } from './store/budgets.ts';
export type {
  LoadOptions,
  MessagePage,
  RunCursor,
  RunQuery,
  RunState,
  SeqPageQuery,
  StepCommit,
  TracePage,
} from './store/runs.ts';
export { MAX_SEQ_PAGE } from './store/runs.ts';
export type { RecordedCall, SideEffectClaim } from './store/side-effects.ts';
