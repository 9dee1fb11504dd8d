import type { Catalog } from '../../core/definitions/catalog.ts';
import { errorMessage } from '../../core/errors.ts';
import type { Clock } from '../../core/ports/clock.ts';
import { systemClock } from '../../core/ports/clock.ts';
import { silentLogger, type Logger } from '../../core/ports/logger.ts';
import { nextFireTime } from './schedule-expressions.ts';

/**
 * The in-process scheduler of `looprail dev`: timers that start each enabled agent's run at
 * the times its schedule gives (schedule-expressions.ts reads the expressions EventBridge
 * Scheduler runs on AWS and computes the next time).
 */

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemTimers: Timers = {
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    // A scheduler alone does not keep `looprail dev` running; its HTTP server does.
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** setTimeout's ceiling (~24.8 days): longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LocalSchedulerOptions {
  catalog: Catalog;
  /** Starts the run (through startRun, with the schedule's dedupe key). Errors are logged. */
  fire: (agent: string, scheduledTime: string) => Promise<void>;
  clock?: Clock;
  timers?: Timers;
  log?: Logger;
}

interface Entry {
  agent: string;
  expression: string;
  timezone: string;
  /** The instant the next firing is due. */
  due?: Date;
  handle?: unknown;
  /** The last scheduled time fired: never fired twice. */
  lastFired?: number;
}

export interface ScheduledAgent {
  agent: string;
  expression: string;
  timezone: string;
  next?: string;
}

/**
 * Fires each enabled agent's schedule at its times. A paused agent (`enabled: false`) is
 * not scheduled, as its Scheduler schedule is DISABLED on AWS. A firing that is late (the
 * laptop slept) fires once, for the time it was due, and the schedule moves on from now:
 * missed times are not caught up, as Scheduler does not replay them either.
 */
export class LocalScheduler {
  readonly #fire: LocalSchedulerOptions['fire'];
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Set<Promise<void>>();
  /** `rate(...)` counts from when the scheduler started (Scheduler counts from the schedule's start). */
  readonly #anchor: Date;
  #stopped = false;

  constructor(options: LocalSchedulerOptions) {
    this.#fire = options.fire;
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? systemTimers;
    this.#log = options.log ?? silentLogger;
    const now = this.#clock.now();
    this.#anchor = new Date(now.getTime() - (now.getTime() % 60_000));
    this.update(options.catalog);
  }

  /** Applies a (re)loaded catalog: new, changed, paused and removed schedules take effect now. */
  update(catalog: Catalog): void {
    const wanted = new Map<string, { expression: string; timezone: string }>();
    for (const [agent, entry] of Object.entries(catalog.agents)) {
      const schedule = entry.trigger?.schedule;
      if (schedule && entry.spec.enabled) wanted.set(agent, schedule);
    }
    for (const [agent, entry] of this.#entries) {
      const schedule = wanted.get(agent);
      if (!schedule || schedule.expression !== entry.expression || schedule.timezone !== entry.timezone) {
        this.#timers.clearTimeout(entry.handle);
        this.#entries.delete(agent);
      }
    }
    for (const [agent, schedule] of wanted) {
      if (this.#entries.has(agent)) continue;
      const entry: Entry = { agent, ...schedule };
      this.#entries.set(agent, entry);
      this.#arm(entry, this.#clock.now());
    }
  }

  /** What is scheduled, and when each fires next. */
  list(): ScheduledAgent[] {
    return [...this.#entries.values()]
      .map((entry) => ({
        agent: entry.agent,
        expression: entry.expression,
        timezone: entry.timezone,
        next: entry.due?.toISOString(),
      }))
      .sort((a, b) => a.agent.localeCompare(b.agent));
  }

  /** Clears every timer and waits for firings under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#entries.values()) this.#timers.clearTimeout(entry.handle);
    this.#entries.clear();
    await Promise.allSettled([...this.#inFlight]);
  }

  #arm(entry: Entry, after: Date): void {
    if (this.#stopped) return;
    let due: Date | undefined;
    try {
      due = nextFireTime(entry.expression, entry.timezone, after, this.#anchor);
    } catch (error) {
      this.#log.error('schedule cannot be evaluated', {
        agent: entry.agent,
        expression: entry.expression,
        message: errorMessage(error),
      });
      return;
    }
    entry.due = due;
    if (!due) {
      this.#log.info('schedule has no future firings', { agent: entry.agent, expression: entry.expression });
      return;
    }
    this.#wait(entry);
  }

  #wait(entry: Entry): void {
    const delay = entry.due!.getTime() - this.#clock.now().getTime();
    entry.handle = this.#timers.setTimeout(() => this.#onTimer(entry), Math.max(0, Math.min(delay, MAX_TIMER_MS)));
  }

  #onTimer(entry: Entry): void {
    if (this.#stopped || this.#entries.get(entry.agent) !== entry || !entry.due) return;
    const now = this.#clock.now();
    // Early (a long wait taken in steps, or a timer that ran ahead of the clock): wait again.
    if (now.getTime() < entry.due.getTime()) {
      this.#wait(entry);
      return;
    }
    const due = entry.due.getTime();
    // Next from now, not from `due`: a late firing does not replay the times it missed.
    this.#arm(entry, new Date(Math.max(due, now.getTime())));
    if (entry.lastFired !== undefined && due <= entry.lastFired) return;
    entry.lastFired = due;
    const scheduledTime = new Date(due).toISOString();
    this.#log.info('schedule fired', { agent: entry.agent, scheduledTime, lateMs: now.getTime() - due });
    const firing = this.#fire(entry.agent, scheduledTime)
      .catch((error: unknown) =>
        this.#log.error('scheduled run failed to start', {
          agent: entry.agent,
          scheduledTime,
          message: errorMessage(error),
        }),
      )
      .finally(() => this.#inFlight.delete(firing));
    this.#inFlight.add(firing);
  }
}
