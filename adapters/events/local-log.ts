import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../core/ports/clock.ts';
import { systemClock } from '../../core/ports/clock.ts';
import type { EventPublisher, RuntimeEvent } from '../../core/ports/events.ts';

/**
 * The local host's event log: one JSON line per runtime event in `<stateDir>/events.jsonl`,
 * shaped like the EventBridge event the deployed stack puts (source, detail-type, time,
 * detail), so whatever reads one can read the other.
 */

export const EVENTS_FILE = 'events.jsonl';

export interface LocalEventLogOptions {
  stateDir: string;
  clock?: Clock;
}

export interface LoggedEvent {
  source: 'looprail';
  'detail-type': RuntimeEvent['type'];
  time: string;
  detail: Record<string, unknown> & { runId: string; agent: string };
}

export class LocalEventLog implements EventPublisher {
  readonly file: string;
  readonly #stateDir: string;
  readonly #clock: Clock;
  /** Appends in order: each waits for the one before, so lines never interleave. */
  #tail: Promise<void> = Promise.resolve();

  constructor(options: LocalEventLogOptions) {
    this.#stateDir = options.stateDir;
    this.file = join(options.stateDir, EVENTS_FILE);
    this.#clock = options.clock ?? systemClock;
  }

  publish(event: RuntimeEvent): Promise<void> {
    const line: LoggedEvent = {
      source: 'looprail',
      'detail-type': event.type,
      time: this.#clock.now().toISOString(),
      detail: { runId: event.runId, agent: event.agent, ...event.detail },
    };
    const text = `${JSON.stringify(line)}\n`;
    const append = this.#tail.then(async () => {
      await mkdir(this.#stateDir, { recursive: true });
      await appendFile(this.file, text, 'utf8');
    });
    // A failed append fails its own publish, not the ones after it.
    this.#tail = append.catch(() => undefined);
    return append;
  }
}
