import type { BudgetCharge } from '../../core/budgets/reservation.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import type { ApprovalDecision, ApprovalRecord } from '../../core/ports/store/approvals.ts';
import type { BudgetUsage, ReserveOutcome, RollupDimension, RollupRow } from '../../core/ports/store/budgets.ts';
import type {
  LoadOptions,
  MessagePage,
  RunQuery,
  RunState,
  SeqPageQuery,
  StepCommit,
  TracePage,
} from '../../core/ports/store/runs.ts';
import type { RecordedCall, SideEffectClaim } from '../../core/ports/store/side-effects.ts';
import { DynamoApprovalStore } from './approval-store.ts';
import { DynamoBudgetLedger } from './budget-ledger.ts';
import { DynamoRateLimits } from './rate-limits.ts';
import { DynamoRunRecords } from './run-records.ts';
import { DynamoSideEffectLedger } from './side-effect-ledger.ts';
import { TableClient, type TableClientOptions } from './table-client.ts';

export type DynamoRunStoreOptions = TableClientOptions;

/**
 * Every store port on one DynamoDB table (docs/architecture.md), for the composition roots:
 * one adapter per port over one shared TableClient. Each method is a plain delegation, so
 * proxies that wrap the store by method name (the local host, the fault tests) still see
 * all of them on this one object.
 */
export class DynamoRunStore implements RunStore {
  readonly runs: DynamoRunRecords;
  readonly approvals: DynamoApprovalStore;
  readonly budgets: DynamoBudgetLedger;
  readonly rateLimits: DynamoRateLimits;
  readonly sideEffects: DynamoSideEffectLedger;

  constructor(options: DynamoRunStoreOptions) {
    const table = new TableClient(options);
    this.runs = new DynamoRunRecords(table);
    this.approvals = new DynamoApprovalStore(table);
    this.budgets = new DynamoBudgetLedger(table);
    this.rateLimits = new DynamoRateLimits(table);
    this.sideEffects = new DynamoSideEffectLedger(table);
  }

  // Run records.
  createRun(meta: RunMeta, options?: { concurrencyLimit?: number }): Promise<{ created: boolean; meta: RunMeta }> {
    return this.runs.createRun(meta, options);
  }
  getRun(runId: string): Promise<RunMeta | undefined> {
    return this.runs.getRun(runId);
  }
  loadState(runId: string, options?: LoadOptions): Promise<RunState | undefined> {
    return this.runs.loadState(runId, options);
  }
  commit(runId: string, commit: StepCommit): Promise<'committed' | 'stale'> {
    return this.runs.commit(runId, commit);
  }
  listTrace(runId: string): Promise<TraceEvent[]> {
    return this.runs.listTrace(runId);
  }
  listTracePage(runId: string, page: SeqPageQuery): Promise<TracePage> {
    return this.runs.listTracePage(runId, page);
  }
  listMessagesPage(runId: string, page: SeqPageQuery): Promise<MessagePage> {
    return this.runs.listMessagesPage(runId, page);
  }
  listRuns(query: RunQuery): Promise<RunMeta[]> {
    return this.runs.listRuns(query);
  }

  // Approvals.
  putApproval(record: ApprovalRecord): Promise<boolean> {
    return this.approvals.putApproval(record);
  }
  renewApprovalToken(approvalId: string, taskToken: string): Promise<void> {
    return this.approvals.renewApprovalToken(approvalId, taskToken);
  }
  getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    return this.approvals.getApproval(approvalId);
  }
  settleApproval(
    approvalId: string,
    status: 'approved' | 'rejected' | 'expired',
    decision?: ApprovalDecision,
  ): Promise<boolean> {
    return this.approvals.settleApproval(approvalId, status, decision);
  }
  addApprover(approvalId: string, approver: string): Promise<string[] | undefined> {
    return this.approvals.addApprover(approvalId, approver);
  }
  claimApprovalAction(
    approvalId: string,
    action: 'reminder' | 'escalation',
    at: string,
    addApprovers?: string[],
  ): Promise<ApprovalRecord | undefined> {
    return this.approvals.claimApprovalAction(approvalId, action, at, addApprovers);
  }

  // Rate limits.
  takeRateToken(subject: string, windowStart: string, limit: number, expiresAt: number): Promise<boolean> {
    return this.rateLimits.takeRateToken(subject, windowStart, limit, expiresAt);
  }

  // Budget ledger.
  reserveBudget(charge: BudgetCharge): Promise<ReserveOutcome> {
    return this.budgets.reserveBudget(charge);
  }
  settleBudget(charge: BudgetCharge, actual: { micros: number; tokens: number }): Promise<void> {
    return this.budgets.settleBudget(charge, actual);
  }
  releaseBudget(charge: BudgetCharge): Promise<void> {
    return this.budgets.releaseBudget(charge);
  }
  getBudgetUsage(scope: string, key: string, periodKey: string): Promise<BudgetUsage> {
    return this.budgets.getBudgetUsage(scope, key, periodKey);
  }
  claimAlert(budget: string, periodKey: string, threshold: number, at: string): Promise<boolean> {
    return this.budgets.claimAlert(budget, periodKey, threshold, at);
  }
  listRollups(dimension: RollupDimension, fromDate: string, toDate: string): Promise<RollupRow[]> {
    return this.budgets.listRollups(dimension, fromDate, toDate);
  }

  // Side-effect ledger.
  claimSideEffect(runId: string, callId: string, tool: string, at: string): Promise<SideEffectClaim> {
    return this.sideEffects.claimSideEffect(runId, callId, tool, at);
  }
  completeSideEffect(runId: string, callId: string, recorded: RecordedCall, at: string): Promise<void> {
    return this.sideEffects.completeSideEffect(runId, callId, recorded, at);
  }
}
