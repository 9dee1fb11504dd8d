export interface LifetimeOptions {
  /** Exit after this long without a request or a running operation. */
  idleSeconds?: number;
  /** Exit after this long in all. */
  maxSeconds?: number;
  /** Called once, when the agent should end (idle, or past its lifetime). */
  onExit: (reason: string) => Promise<void>;
}

/**
 * When the sandbox agent ends, and the one-at-a-time queue its operations run in: idle
 * time counts only while no request is in flight and no operation is queued or running.
 */
export class Lifetime {
  exiting = false;
  /** Operations queued or running (a script from its start to its end). */
  #busy = 0;
  #inFlight = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #maxTimer: NodeJS.Timeout | undefined;
  readonly #options: LifetimeOptions;

  constructor(options: LifetimeOptions) {
    this.#options = options;
    const { maxSeconds } = options;
    this.#maxTimer =
      maxSeconds !== undefined ? setTimeout(() => void this.shutdown('max_lifetime'), timerMs(maxSeconds)) : undefined;
  }

  /** One operation at a time, in order; a failed one does not stop the next. */
  serialized<T>(operation: () => Promise<T>): Promise<T> {
    this.#busy += 1;
    this.touch();
    const next = this.#queue.then(operation);
    this.#queue = next.catch(() => undefined);
    return next.finally(() => {
      this.#busy -= 1;
      this.touch();
    });
  }

  /** Holds the idle clock while a request is handled. */
  during<T>(request: () => Promise<T>): Promise<T> {
    this.#inFlight += 1;
    this.touch();
    return request().finally(() => {
      this.#inFlight -= 1;
      this.touch();
    });
  }

  /** Restarts the idle clock, when nothing is in flight or queued. */
  touch(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const { idleSeconds } = this.#options;
    if (idleSeconds === undefined || this.exiting || this.#inFlight > 0 || this.#busy > 0) return;
    this.#idleTimer = setTimeout(() => void this.shutdown('idle'), timerMs(idleSeconds));
  }

  /** The server closed: no timer may fire any more. */
  stop(): void {
    this.exiting = true;
    this.#clearTimers();
  }

  async shutdown(reason: string): Promise<void> {
    if (this.exiting) return;
    this.exiting = true;
    this.#clearTimers();
    await this.#options.onExit(reason);
  }

  #clearTimers(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    if (this.#maxTimer) clearTimeout(this.#maxTimer);
  }
}

/** setTimeout's longest delay is 2^31-1 ms (about 24.8 days). */
function timerMs(seconds: number): number {
  return Math.min(Math.max(0, seconds * 1000), 2 ** 31 - 1);
}
