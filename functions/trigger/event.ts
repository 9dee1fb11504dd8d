import type { TriggerDeps } from '../../core/run/trigger.ts';
import { eventRunRequest } from '../../core/run/triggers-map.ts';
import { lambdaTriggerDeps } from '../_shared/runtime.ts';
import { startTriggeredRun, type TriggeredRun } from './start-triggered.ts';

/**
 * The target of an agent's EventBridge rule (infra/constructs/agent-triggers.ts): invoked
 * with the event trimmed by the rule's input transformer to `{ agent, id, source,
 * detail-type, detail, time }`. One run per event id: EventBridge's retries start nothing new.
 *
 * The composition root supplies the deps (lambdaDeps() plus the Step Functions
 * ExecutionStarter): `export const handler = eventHandler(lambdaTriggerDeps)`.
 */
export function eventHandler(
  deps: () => TriggerDeps | Promise<TriggerDeps>,
): (payload: unknown) => Promise<TriggeredRun> {
  return async (payload) => startTriggeredRun(await deps(), () => eventRunRequest(payload));
}

export const handler = eventHandler(lambdaTriggerDeps);
