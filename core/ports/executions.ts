/**
 * Starts (and stops) the state machine execution of a run: Step Functions on AWS (the
 * execution is named by the run id, so a repeated start is a no-op), the local executor
 * in the local host.
 */
export interface ExecutionStarter {
  /** Idempotent: starting a run whose execution exists does nothing. */
  start(runId: string): Promise<void>;
  /** Stops the run's execution; the run is then closed `cancelled`. */
  stop(runId: string, reason: string): Promise<void>;
}
