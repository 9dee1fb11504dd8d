/**
 * A delegated sub-agent run, already recorded, run to its end as its own execution of
 * the same state machine: locally a nested execution of the local executor.
 */
export interface ChildRuns {
  /** Resolves when the child's execution has ended (its run record then holds its stop reason). */
  runToEnd(runId: string): Promise<void>;
}
