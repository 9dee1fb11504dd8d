import type { ApprovalDecision, ApprovalRecord, ApprovalStore } from '../../../core/ports/store/approvals.ts';
import { copy, keyPart } from './tables.ts';

interface StoredApproval {
  status: ApprovalRecord['status'];
  approval: ApprovalRecord;
  /** Kept beside the record, as the adapter does: the two-person rule's condition reads this one. */
  approvedBy?: string[];
}

/** Approvals in memory: each method is the adapter's one conditional write, decided synchronously. */
export class MemoryApprovalStore implements ApprovalStore {
  private readonly items = new Map<string, StoredApproval>();

  async putApproval(record: ApprovalRecord): Promise<boolean> {
    if (this.items.has(keyPart('approvalId', record.approvalId))) return false;
    this.items.set(record.approvalId, { status: record.status, approval: copy(record) });
    return true;
  }

  async renewApprovalToken(approvalId: string, taskToken: string): Promise<void> {
    const item = this.#pending(approvalId);
    if (item) item.approval.taskToken = taskToken;
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    const item = this.items.get(keyPart('approvalId', approvalId));
    return item ? copy(item.approval) : undefined;
  }

  async settleApproval(
    approvalId: string,
    status: 'approved' | 'rejected' | 'expired',
    decision?: ApprovalDecision,
  ): Promise<boolean> {
    const item = this.#pending(approvalId);
    if (!item) return false;
    item.status = status;
    item.approval.status = status;
    if (decision) item.approval.decision = copy(decision);
    return true;
  }

  async addApprover(approvalId: string, approver: string): Promise<string[] | undefined> {
    const item = this.#pending(approvalId);
    if (!item || item.approvedBy?.includes(approver)) return undefined;
    item.approvedBy = [...(item.approvedBy ?? []), approver];
    item.approval.approvedBy = [...(item.approval.approvedBy ?? []), approver];
    return [...item.approvedBy];
  }

  async claimApprovalAction(
    approvalId: string,
    action: 'reminder' | 'escalation',
    at: string,
    addApprovers: string[] = [],
  ): Promise<ApprovalRecord | undefined> {
    const item = this.#pending(approvalId);
    const mark = action === 'reminder' ? 'reminderSentAt' : 'escalatedAt';
    if (!item || item.approval[mark] !== undefined) return undefined;
    item.approval[mark] = at;
    if (action === 'escalation' && addApprovers.length > 0)
      item.approval.approvers = [...item.approval.approvers, ...addApprovers];
    return copy(item.approval);
  }

  /** The record while it is pending; every conditional write here requires it. */
  #pending(approvalId: string): StoredApproval | undefined {
    const item = this.items.get(keyPart('approvalId', approvalId));
    return item?.status === 'pending' ? item : undefined;
  }
}
