import { errorMessage, NotFoundError, ValidationError } from '../../core/errors.ts';
import type { RunRequest } from '../../core/run/request-run.ts';
import { startRun, type TriggerDeps } from '../../core/run/trigger.ts';

export type TriggeredRun = { started: true; runId: string; created: boolean } | { started: false; reason: string };

/**
 * The shared body of the schedule and event handlers. Scheduler and EventBridge invoke
 * Lambda asynchronously, and Lambda retries a failed invocation: so a failure that a retry
 * can fix (DynamoDB throttled, the execution could not start) is thrown, while one that
 * can never succeed (a malformed payload, an agent that is gone, paused or whose
 * input_schema refuses the input) is logged and returned, not retried.
 */
export async function startTriggeredRun(deps: TriggerDeps, toRequest: () => RunRequest): Promise<TriggeredRun> {
  let request: RunRequest | undefined;
  try {
    request = toRequest();
    const { runId, created } = await startRun(deps, request);
    deps.log.info('run triggered', {
      agent: request.agent,
      trigger: request.trigger.kind,
      detail: request.trigger.detail,
      runId,
      created,
    });
    return { started: true, runId, created };
  } catch (error) {
    if (error instanceof ValidationError || error instanceof NotFoundError) {
      deps.log.warn('trigger refused', {
        agent: request?.agent,
        trigger: request?.trigger.kind,
        detail: request?.trigger.detail,
        error: error.name,
        message: error.message,
      });
      return { started: false, reason: error.message };
    }
    deps.log.error('trigger failed', {
      agent: request?.agent,
      trigger: request?.trigger.kind,
      detail: request?.trigger.detail,
      error: (error as Error).name,
      message: errorMessage(error),
    });
    throw error;
  }
}
