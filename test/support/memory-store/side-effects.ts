import type { RecordedCall, SideEffectClaim, SideEffectLedger } from '../../../core/ports/store/side-effects.ts';
import { keyPart, type MemoryTables } from './tables.ts';

/** Side-effecting calls in memory: claimed once, then in doubt until completed, then replayed. */
export class MemorySideEffectLedger implements SideEffectLedger {
  private readonly calls: MemoryTables['sideEffects'];

  constructor(tables: MemoryTables) {
    this.calls = tables.sideEffects;
  }

  async claimSideEffect(runId: string, callId: string, tool: string, at: string): Promise<SideEffectClaim> {
    const key = sideEffectKey(runId, callId);
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
    completeCall(this.calls, runId, callId, recorded, at);
  }
}

/** Completes a claimed call: alone, or in a step's commit (runs.ts). */
export function completeCall(
  calls: MemoryTables['sideEffects'],
  runId: string,
  callId: string,
  recorded: RecordedCall,
  at: string,
): void {
  const existing = calls.get(sideEffectKey(runId, callId));
  // The adapter's write is conditional on the claim: completing an unclaimed call is a bug.
  if (!existing) throw new Error(`completeSideEffect: call ${callId} of run ${runId} was never claimed`);
  existing.recorded = JSON.stringify(recorded);
  existing.completedAt = at;
}

export function sideEffectKey(runId: string, callId: string): string {
  return `${keyPart('runId', runId)}/${encodeURIComponent(callId)}`;
}
