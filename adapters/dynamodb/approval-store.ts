import type { ApprovalDecision, ApprovalRecord, ApprovalStore } from '../../core/ports/store/approvals.ts';
import { approvalKey } from './keys.ts';
import type { TableClient } from './table-client.ts';

/**
 * Approvals on the table: one item per approval (`APPROVAL#<id>`), the record in `approval`
 * (map) and its `status` beside it at the top level, which every conditional write tests.
 */
export class DynamoApprovalStore implements ApprovalStore {
  private readonly table: TableClient;

  constructor(table: TableClient) {
    this.table = table;
  }

  async putApproval(record: ApprovalRecord): Promise<boolean> {
    // First write wins: a retried step must not reset a decision already taken.
    return this.table.putIfAbsent('putApproval', {
      ...approvalKey(record.approvalId),
      runId: record.runId,
      status: record.status,
      approval: record,
    });
  }

  async renewApprovalToken(approvalId: string, taskToken: string): Promise<void> {
    // Decided (or gone) already: the decision stands, and no execution waits on a token.
    await this.table.updateIf('renewApprovalToken', {
      Key: approvalKey(approvalId),
      UpdateExpression: 'SET approval.taskToken = :token',
      ConditionExpression: '#status = :pending',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':token': taskToken, ':pending': 'pending' },
    });
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    const item = await this.table.getItem('getApproval', approvalKey(approvalId));
    return item?.approval as ApprovalRecord | undefined;
  }

  async settleApproval(
    approvalId: string,
    status: 'approved' | 'rejected' | 'expired',
    decision?: ApprovalDecision,
  ): Promise<boolean> {
    const settled = await this.table.updateIf('settleApproval', {
      Key: approvalKey(approvalId),
      // One conditional write: of any number of concurrent deciders, exactly one finds it pending.
      UpdateExpression: decision
        ? 'SET #status = :to, #approval.#status = :to, #approval.#decision = :decision'
        : 'SET #status = :to, #approval.#status = :to',
      ConditionExpression: '#status = :pending',
      ExpressionAttributeNames: {
        '#status': 'status',
        '#approval': 'approval',
        ...(decision ? { '#decision': 'decision' } : {}),
      },
      ExpressionAttributeValues: {
        ':to': status,
        ':pending': 'pending',
        ...(decision ? { ':decision': decision } : {}),
      },
    });
    return settled !== undefined;
  }

  async addApprover(approvalId: string, approver: string): Promise<string[] | undefined> {
    const added = await this.table.updateIf('addApprover', {
      Key: approvalKey(approvalId),
      // Appends are serialised by DynamoDB: exactly one addition makes the list reach its size.
      UpdateExpression:
        'SET #by = list_append(if_not_exists(#by, :empty), :one), #approval.#by = list_append(if_not_exists(#approval.#by, :empty), :one)',
      ConditionExpression: '#status = :pending AND (attribute_not_exists(#by) OR NOT contains(#by, :who))',
      ExpressionAttributeNames: { '#status': 'status', '#approval': 'approval', '#by': 'approvedBy' },
      ExpressionAttributeValues: { ':pending': 'pending', ':empty': [], ':one': [approver], ':who': approver },
      ReturnValues: 'UPDATED_NEW',
    });
    if (!added) return undefined;
    return (added.attributes.approvedBy as string[] | undefined) ?? [approver];
  }

  async claimApprovalAction(
    approvalId: string,
    action: 'reminder' | 'escalation',
    at: string,
    addApprovers: string[] = [],
  ): Promise<ApprovalRecord | undefined> {
    const adding = action === 'escalation' && addApprovers.length > 0;
    const claimed = await this.table.updateIf('claimApprovalAction', {
      Key: approvalKey(approvalId),
      // One conditional write: of racing sweepers, exactly one finds it pending and not yet marked.
      UpdateExpression: adding
        ? 'SET #approval.#mark = :at, #approval.#approvers = list_append(#approval.#approvers, :add)'
        : 'SET #approval.#mark = :at',
      ConditionExpression: '#status = :pending AND attribute_not_exists(#approval.#mark)',
      ExpressionAttributeNames: {
        '#status': 'status',
        '#approval': 'approval',
        '#mark': action === 'reminder' ? 'reminderSentAt' : 'escalatedAt',
        ...(adding ? { '#approvers': 'approvers' } : {}),
      },
      ExpressionAttributeValues: { ':pending': 'pending', ':at': at, ...(adding ? { ':add': addApprovers } : {}) },
      ReturnValues: 'ALL_NEW',
    });
    return claimed?.attributes.approval as ApprovalRecord | undefined;
  }
}
