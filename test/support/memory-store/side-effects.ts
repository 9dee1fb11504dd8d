import type { RecordedCall, SideEffectClaim, SideEffectLedger } from '../../../core/ports/store/side-effects.ts';
import { keyPart } from './tables.ts';

interface StoredCall {
  tool: string;
  startedAt: string;
  /** The outcome as JSON text, once completed. */
  recorded?: string;
  completedAt?: string;
}

/** Side-effecting calls in memory: claimed once, then in doubt until completed, then replayed. */
export class MemorySideEffectLedger implements SideEffectLedger {
  private readonly calls = new Map<string, StoredCall>();

  async claimSideEffect(runId: string, callId: string, tool: string, at: string): Promise<SideEffectClaim> {
    const key = callKey(runId, callId);
    const existing = this.calls.get(key);
    if (!existing) {
      this.calls.set(key, { tool, startedAt: at });
      return { state: 'claimed' };
    }
    if (existing.recorded !== undefined)
      return { state: 'completed', recorded: JSON.parse(existing.recorded) as RecordedCall };
    return { state: 'in_doubt', startedAt: existing.startedAt };
  }

  async completeSideEffect(runId: string, callId: string, recorded: RecordedCall, at: string): Promise<void> {
    const existing = this.calls.get(callKey(runId, callId));
    // The adapter's write is conditional on the claim: completing an unclaimed call is a bug.
    if (!existing) throw new Error(`completeSideEffect: call ${callId} of run ${runId} was never claimed`);
    existing.recorded = JSON.stringify(recorded);
    existing.completedAt = at;
  }
}

function callKey(runId: string, callId: string): string {
  return `${keyPart('runId', runId)}/${encodeURIComponent(callId)}`;
}
