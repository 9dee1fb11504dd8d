/**
 * Starts (and stops) the state machine execution of a run: Step Functions on AWS (the
 * execution is named by the run id, so a repeated start is a no-op), the local executor
 * in the local host.
 */
export interface ExecutionStarter {
  /** Idempotent: starting a run whose execution exists does nothing. */
  start(runId: string): Promise<void>;
  /** Stops the run's execution (at `seq`, for a run continued in later executions); the run is then closed `cancelled`. */
  stop(runId: string, reason: string, seq?: number): Promise<void>;
}

/**
 * Hands an approver's decision back to the execution waiting on a task token
 * (SendTaskSuccess / SendTaskFailure on AWS). `resume` says where the run stands after the
 * decision was committed: a local host whose waiting execution is gone (a restart) starts
 * a new execution that continues the run from there instead.
 */
export interface TaskTokenSender {
  /** Throws TaskGoneError when no execution waits on the token any more (timed out, stopped). */
  sendTaskSuccess(token: string, output: unknown, resume: { runId: string; seq: number }): Promise<void>;
  sendTaskFailure(token: string, error: string, cause: string, resume: { runId: string; seq: number }): Promise<void>;
}
