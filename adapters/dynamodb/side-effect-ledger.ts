import type { RecordedCall, SideEffectClaim, SideEffectLedger } from '../../core/ports/store/side-effects.ts';
import { KEY_ATTRIBUTES, sideEffectKey } from './keys.ts';
import type { TableClient } from './table-client.ts';

/**
 * Side-effecting calls on the table: one item per run and call id (`IDEM#<run>/<call>`),
 * `started` when claimed and `completed` with the recorded outcome (as JSON text) after.
 * Rows expire with the trace's retention.
 */
export class DynamoSideEffectLedger implements SideEffectLedger {
  private readonly table: TableClient;

  constructor(table: TableClient) {
    this.table = table;
  }

  async claimSideEffect(runId: string, callId: string, tool: string, at: string): Promise<SideEffectClaim> {
    const key = sideEffectKey(runId, callId);
    const claimed = await this.table.putIfAbsent('claimSideEffect', {
      ...key,
      runId,
      callId,
      tool,
      status: 'started',
      startedAt: at,
      ...this.table.expiryAttribute(),
    });
    if (claimed) return { state: 'claimed' };
    const existing = await this.table.getItem('claimSideEffect', key);
    if (existing?.status === 'completed' && typeof existing.recorded === 'string') {
      return { state: 'completed', recorded: JSON.parse(existing.recorded) as RecordedCall };
    }
    return { state: 'in_doubt', startedAt: String(existing?.startedAt ?? 'unknown') };
  }

  async completeSideEffect(runId: string, callId: string, recorded: RecordedCall, at: string): Promise<void> {
    await this.table.update('completeSideEffect', completedCall(runId, callId, recorded, at));
  }
}

/** The claimed call's row, completed with its outcome: alone, or in a step's commit (run-records.ts). */
export function completedCall(runId: string, callId: string, recorded: RecordedCall, at: string) {
  return {
    Key: sideEffectKey(runId, callId),
    UpdateExpression: 'SET #status = :completed, recorded = :recorded, completedAt = :at',
    // Only a claimed call: the claim was durable before the call acted.
    ConditionExpression: 'attribute_exists(#pk)',
    ExpressionAttributeNames: { '#status': 'status', '#pk': KEY_ATTRIBUTES.partitionKey },
    // Results are untrusted text with arbitrary structure: kept as JSON text.
    ExpressionAttributeValues: { ':completed': 'completed', ':recorded': JSON.stringify(recorded), ':at': at },
  };
}
