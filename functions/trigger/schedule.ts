import type { TriggerDeps } from '../../core/run/trigger.ts';
import { scheduleRunRequest } from '../../core/run/triggers-map.ts';
import { lambdaTriggerDeps } from '../_shared/runtime.ts';
import { startTriggeredRun, type TriggeredRun } from './start-triggered.ts';

/**
 * EventBridge Scheduler's target (infra/constructs/agent-triggers.ts): invoked with
 * `{ agent, scheduledTime }`. One run per agent and scheduled time: Scheduler's retries
 * and Lambda's own async retries all map to the same run.
 *
 * The composition root supplies the deps (lambdaDeps() plus the Step Functions
 * ExecutionStarter): `export const handler = scheduleHandler(lambdaTriggerDeps)`.
 */
export function scheduleHandler(
  deps: () => TriggerDeps | Promise<TriggerDeps>,
): (payload: unknown) => Promise<TriggeredRun> {
  return async (payload) => startTriggeredRun(await deps(), () => scheduleRunRequest(payload));
}

export const handler = scheduleHandler(lambdaTriggerDeps);
