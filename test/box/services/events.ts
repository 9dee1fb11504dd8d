import { randomUUID } from 'node:crypto';
import { arn, type BoxService, type CallContext, jsonAnswer, jsonBody, ServiceError, targetOperation } from './wire.ts';

/**
 * EventBridge PutEvents (awsJson 1.1, `AWSEvents.PutEvents`). Each entry is authorized on its
 * bus with its own `events:source` and `events:detail-type` (multivalued keys, as the service
 * reference types them); one refused entry refuses the call, loudly. Accepted entries are kept
 * and handed to `onEvent` as EventBridge delivers them, where the box matches its rules.
 */

/** An event as EventBridge delivers it to a rule's targets. */
export interface EventBridgeEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** One accepted PutEvents entry: the bus it went to and the event it became. */
export interface PutEventRecord {
  eventBusName: string;
  event: EventBridgeEvent;
}

export interface EventsOptions {
  onEvent?: (event: EventBridgeEvent, eventBusName: string) => void | Promise<void>;
}

export function eventsService(options: EventsOptions | undefined): BoxService & { events: PutEventRecord[] } {
  const events: PutEventRecord[] = [];
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
      for (const record of accepted) {
        events.push(record);
        ids.push({ EventId: record.event.id });
        await options?.onEvent?.(record.event, record.eventBusName);
      }
      return jsonAnswer('awsJson1_1', { FailedEntryCount: 0, Entries: ids });
    },
  };
}

async function authorizeEntry(call: CallContext, entry: Record<string, any>): Promise<PutEventRecord> {
  const bus = String(entry.EventBusName ?? 'default');
  const busArn = bus.startsWith('arn:') ? bus : arn(call.account, 'events', `event-bus/${bus}`);
  const source = String(entry.Source ?? '');
  const detailType = String(entry.DetailType ?? '');
  await call.authorize('events:PutEvents', [busArn], {
    'events:source': [source],
    'events:detail-type': [detailType],
  });
  let detail: Record<string, unknown>;
  try {
    detail = JSON.parse(String(entry.Detail ?? '{}'));
  } catch {
    throw new ServiceError('ValidationException', `Detail is not valid JSON for ${source} ${detailType}`);
  }
  return {
    eventBusName: busArn.split('/').pop()!,
    event: {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source,
      account: call.account.accountId,
      time: (entry.Time ? new Date(Number(entry.Time) * 1000) : new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: call.account.region,
      resources: entry.Resources ?? [],
      detail,
    },
  };
}
