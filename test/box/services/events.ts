import { randomUUID } from 'node:crypto';
import { arn, type BoxService, type CallContext, jsonAnswer, jsonBody, ServiceError, targetOperation } from './wire.ts';

/**
 * EventBridge PutEvents (awsJson 1.1, `AWSEvents.PutEvents`). Each entry is authorized on its
 * bus with its own `events:source` and `events:detail-type` (multivalued keys, as the service
 * reference types them); one refused entry refuses the call, loudly. Accepted entries are kept
 * and handed to `onEvent`, where the box matches its rules.
 */

export interface BoxEvent {
  id: string;
  eventBusName: string;
  source: string;
  detailType: string;
  /** The entry's Detail, parsed. */
  detail: unknown;
  resources: string[];
  time: Date;
  account: string;
  region: string;
}

export interface EventsOptions {
  onEvent?: (event: BoxEvent) => void | Promise<void>;
  /** Where accepted entries are kept (default: a new list, read it from the gateway's `events`). */
  events?: BoxEvent[];
}

export function eventsService(options: EventsOptions | undefined): BoxService & { events: BoxEvent[] } {
  const events = options?.events ?? [];
  return {
    name: 'events',
    signingName: 'events',
    protocol: 'awsJson1_1',
    events,
    operation: (request) => targetOperation(request, 'AWSEvents'),
    async handle(operation: string, call: CallContext) {
      if (operation !== 'PutEvents') {
        throw new ServiceError('UnknownOperationException', `the box does not serve events ${operation}`);
      }
      const entries = (jsonBody(call.request).Entries ?? []) as Record<string, any>[];
      const accepted = await Promise.all(entries.map((entry) => authorizeEntry(call, entry)));
      const ids: { EventId: string }[] = [];
      for (const event of accepted) {
        events.push(event);
        ids.push({ EventId: event.id });
        await options?.onEvent?.(event);
      }
      return jsonAnswer('awsJson1_1', { FailedEntryCount: 0, Entries: ids });
    },
  };
}

async function authorizeEntry(call: CallContext, entry: Record<string, any>): Promise<BoxEvent> {
  const bus = String(entry.EventBusName ?? 'default');
  const busArn = bus.startsWith('arn:') ? bus : arn(call.account, 'events', `event-bus/${bus}`);
  const source = String(entry.Source ?? '');
  const detailType = String(entry.DetailType ?? '');
  await call.authorize('events:PutEvents', [busArn], {
    'events:source': [source],
    'events:detail-type': [detailType],
  });
  let detail: unknown;
  try {
    detail = JSON.parse(String(entry.Detail ?? '{}'));
  } catch {
    throw new ServiceError('ValidationException', `Detail is not valid JSON for ${source} ${detailType}`);
  }
  return {
    id: randomUUID(),
    eventBusName: busArn.split('/').pop()!,
    source,
    detailType,
    detail,
    resources: entry.Resources ?? [],
    time: entry.Time ? new Date(Number(entry.Time) * 1000) : new Date(),
    account: call.account.accountId,
    region: call.account.region,
  };
}
