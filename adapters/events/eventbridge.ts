import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { onFirstUse } from '../aws/on-first-use.ts';
import type { EventPublisher, RuntimeEvent } from '../../core/ports/events.ts';

/**
 * Runtime events (`looprail.run.*`) on EventBridge: source `looprail`, detail-type the
 * event type, detail `{ runId, agent, ...detail }`. PutEvents answers 200 even when an
 * entry is refused, so a failed entry is thrown here (the core logs it and goes on:
 * events are notifications, never state).
 */

export const EVENT_SOURCE = 'looprail';

export interface EventBridgePublisherOptions {
  client?: EventBridgeClient;
  /** Default: the account's default bus. */
  eventBusName?: string;
}

export class EventBridgePublisher implements EventPublisher {
  readonly #client: () => Promise<EventBridgeClient>;
  readonly #eventBusName: string | undefined;

  constructor(options: EventBridgePublisherOptions = {}) {
    this.#client = onFirstUse(
      async () => new (await import('@aws-sdk/client-eventbridge')).EventBridgeClient({}),
      options.client,
    );
    this.#eventBusName = options.eventBusName;
  }

  async publish(event: RuntimeEvent): Promise<void> {
    const { PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
    const output = await (await this.#client()).send(
      new PutEventsCommand({
        Entries: [
          {
            Source: EVENT_SOURCE,
            DetailType: event.type,
            Detail: JSON.stringify({ runId: event.runId, agent: event.agent, ...event.detail }),
            Resources: [],
            ...(this.#eventBusName ? { EventBusName: this.#eventBusName } : {}),
          },
        ],
      }),
    );
    const failed = output.Entries?.find((entry) => entry.ErrorCode);
    if ((output.FailedEntryCount ?? 0) > 0 || failed) {
      throw new Error(
        `EventBridge refused ${event.type} for run ${event.runId}: ${failed?.ErrorCode ?? 'unknown error'}${failed?.ErrorMessage ? ` (${failed.ErrorMessage})` : ''}`,
      );
    }
  }
}
