import * as z from '../definitions/zod.ts';
import { ValidationError } from '../errors.ts';
import type { RunRequest } from './request-run.ts';

/**
 * What each trigger turns into: the RunRequest `startRun` takes. Pure mappings, one per
 * trigger kind, so the Lambda handlers, the webhook route and the local scheduler stay
 * thin and agree on dedupe keys and principals.
 *
 * Dedupe keys carry their trigger kind as a prefix, so a schedule, an event and a webhook
 * delivery can never collide on the same run id (run ids hash agent and key together).
 */

/** What EventBridge Scheduler sends (the schedule's target input, see infra/constructs/agent-triggers.ts). */
export const SchedulePayload = z.object({
  agent: z.string().check(z.minLength(1)),
  /** `<aws.scheduler.scheduled-time>`: ISO 8601 in UTC, e.g. 2025-03-30T06:00:00Z. */
  scheduledTime: z.string().check(z.refine((text) => !Number.isNaN(Date.parse(text)), 'expected an ISO 8601 time')),
});
export type SchedulePayload = z.infer<typeof SchedulePayload>;

/**
 * What the event rule's input transformer sends: the event trimmed to what a run needs
 * (the agent name is added by the rule, one rule per agent).
 */
export const EventPayload = z.object({
  agent: z.string().check(z.minLength(1)),
  id: z.string().check(z.minLength(1)),
  source: z.string().check(z.minLength(1)),
  'detail-type': z.string(),
  detail: z.optional(z.unknown()),
  time: z.optional(z.string()),
});
export type EventPayload = z.infer<typeof EventPayload>;

function parsed<T>(schema: z.ZodMiniType<T>, payload: unknown, what: string): T {
  const result = schema.safeParse(payload);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`)
      .join('; ');
    throw new ValidationError(`not a ${what}: ${problems}`);
  }
  return result.data;
}

/** Normalizes the scheduled time, so `…T06:00:00Z` and `…T06:00:00.000Z` are the same firing. */
function canonicalTime(text: string): string {
  return new Date(text).toISOString();
}

export function scheduleDedupeKey(agent: string, scheduledTime: string): string {
  return `schedule:${agent}:${canonicalTime(scheduledTime)}`;
}

/** A schedule firing: one run per agent and scheduled time, however often Scheduler retries it. */
export function scheduleRunRequest(payload: unknown): RunRequest {
  const { agent, scheduledTime } = parsed(SchedulePayload, payload, 'schedule invocation ({ agent, scheduledTime })');
  const time = canonicalTime(scheduledTime);
  return {
    agent,
    input: { scheduledTime: time },
    principal: `schedule:${agent}`,
    trigger: { kind: 'schedule', detail: time },
    dedupeKey: scheduleDedupeKey(agent, time),
  };
}

/** An EventBridge event matched by the agent's rule: one run per event id. */
export function eventRunRequest(payload: unknown): RunRequest {
  const event = parsed(EventPayload, payload, 'EventBridge event ({ agent, id, source, detail-type, detail })');
  return {
    agent: event.agent,
    input: { source: event.source, 'detail-type': event['detail-type'], detail: event.detail ?? {} },
    principal: `event:${event.agent}`,
    trigger: { kind: 'event', detail: `${event.source} ${event['detail-type']} ${event.id}` },
    dedupeKey: `event:${event.id}`,
  };
}

export interface WebhookDelivery {
  agent: string;
  /** `X-GitHub-Event` / `X-Looprail-Event`; `webhook` when the sender names none. */
  event: string | undefined;
  /** `X-GitHub-Delivery` / `X-Looprail-Delivery`: the same delivery, redelivered, keeps it. */
  deliveryId: string;
  /** The parsed body: the run's input. */
  body: unknown;
}

/** A verified, unfiltered webhook delivery: one run per delivery id. */
export function webhookRunRequest(delivery: WebhookDelivery): RunRequest {
  return {
    agent: delivery.agent,
    input: delivery.body,
    principal: `webhook:${delivery.agent}`,
    trigger: { kind: 'webhook', detail: `${delivery.event ?? 'webhook'} ${delivery.deliveryId}` },
    dedupeKey: `webhook:${delivery.deliveryId}`,
  };
}
