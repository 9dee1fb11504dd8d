import type { ToolResultBlock } from '../../definitions/messages.ts';
import type { NewTraceEvent } from '../../definitions/trace.ts';

/** A side-effecting call's outcome as the tool step recorded it: replayed exactly by a retry. */
export interface RecordedCall {
  result: ToolResultBlock;
  trace: NewTraceEvent;
  /** A run_code call's own tool calls (code mode), replayed with it. */
  inner?: Array<{ kind: string; trace: NewTraceEvent; called?: boolean }>;
}

/** What a retried tool step finds when it is about to repeat a side-effecting call. */
export type SideEffectClaim =
  /** First time: go ahead and call. */
  | { state: 'claimed' }
  /** The call ran and its outcome was recorded: use it, do not call again. */
  | { state: 'completed'; recorded: RecordedCall }
  /** An earlier attempt started the call and never recorded an outcome: it may have acted. */
  | { state: 'in_doubt'; startedAt: string };

/**
 * The side-effect ledger: one row per side-effecting tool call of a run, claimed before the
 * call and completed after it. The claim is never part of the step's commit: it must be
 * durable before the call acts. The outcome is recorded here, or by the step's commit
 * (StepCommit.sideEffects) when the commit follows the call at once.
 */
export interface SideEffectLedger {
  /** Written before a call that may change something, so a retry never repeats it blindly. */
  claimSideEffect(runId: string, callId: string, tool: string, at: string): Promise<SideEffectClaim>;
  /** Records the call's outcome (errors included) for a retry to reuse. */
  completeSideEffect(runId: string, callId: string, recorded: RecordedCall, at: string): Promise<void>;
}
