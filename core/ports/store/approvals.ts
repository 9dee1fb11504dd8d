/** An approval wait: what the run waits on, who may decide, and the one decision taken. */
export interface ApprovalRecord {
  approvalId: string;
  runId: string;
  /** The run's seq when the wait began. */
  seq: number;
  /** Kept server-side only: never in a link, an email, a log or a trace. */
  taskToken: string;
  tools: string[];
  callIds: string[];
  reasons: string[];
  approvers: string[];
  status: 'pending' | 'approved' | 'rejected' | 'expired';
  /** A budget increase rather than tool calls ("approve +$N to continue"). */
  budget?: { name: string; amountMicros: number };
  createdAt: string;
  expiresAt: string;
  /** What a rejection does (the strictest rule of the calls waiting): tell the model, or stop the run. */
  onReject?: 'continue' | 'stop';
  /** Per call: a hash of tool, exact arguments and policy version (core/approvals/binding.ts). */
  bindings?: Array<{ callId: string; hash: string }>;
  /** Set once, by the one decision that won. */
  decision?: ApprovalDecision;
  /** Two-person rule: approvals needed (absent: 1), and who has approved so far. */
  requiredApprovals?: number;
  approvedBy?: string[];
  /** When the approvers are reminded (the rule's remind_before before expiry); set once sent. */
  remindAt?: string;
  reminderSentAt?: string;
  /** When `escalateTo` joins the approvers and is mailed links (the rule's escalate_after); set once done. */
  escalateAt?: string;
  escalateTo?: string[];
  escalatedAt?: string;
}

/** Who decided, when, how, and through which link (or as which operator). */
export interface ApprovalDecision {
  outcome: 'approved' | 'rejected';
  by: string;
  at: string;
  comment?: string;
  /** `link mailed to <recipient>` or `operator <principal>`. */
  via: string;
}

/**
 * Approval records. Each write is one conditional write on one record, so no transaction
 * spans this port and another: the run's own wait is committed by the run records port.
 */
export interface ApprovalStore {
  /** Idempotent by approvalId (the first write wins); true when this call created the record. */
  putApproval(record: ApprovalRecord): Promise<boolean>;
  /**
   * A retried wait gets a fresh task token and the earlier one is dead: a pending approval
   * takes the new one (a decided one is left as it is), or approving it would resume nothing.
   */
  renewApprovalToken(approvalId: string, taskToken: string): Promise<void>;
  getApproval(approvalId: string): Promise<ApprovalRecord | undefined>;
  /**
   * Moves a pending approval to its end state in one conditional write: exactly one caller
   * wins (true); every other finds it no longer pending (false) and nothing changes.
   */
  settleApproval(
    approvalId: string,
    status: 'approved' | 'rejected' | 'expired',
    decision?: ApprovalDecision,
  ): Promise<boolean>;
  /**
   * Adds one approver to a pending approval that needs several, atomically: the list after
   * the addition, or undefined when it is no longer pending or they had approved already.
   */
  addApprover(approvalId: string, approver: string): Promise<string[] | undefined>;
  /**
   * Marks a pending approval's reminder or escalation done, in one conditional write
   * (pending, and not marked before): exactly one of racing sweepers gets the record after
   * the write; every other gets undefined. An escalation also adds `addApprovers`.
   */
  claimApprovalAction(
    approvalId: string,
    action: 'reminder' | 'escalation',
    at: string,
    addApprovers?: string[],
  ): Promise<ApprovalRecord | undefined>;
}
