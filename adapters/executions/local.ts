import type { FailInput, RunMeta } from '../../core/definitions/run.ts';
import type { ExecutionStarter } from '../../core/ports/executions.ts';
import { silentLogger, type Logger } from '../../core/ports/logger.ts';

/**
 * The ExecutionStarter of the local host: each run's execution runs in the background on
 * the local executor (the same ASL and handlers as Step Functions), tracked so that a
 * stop can abort it and a closing host can wait for (or abort) what is still running.
 *
 * An execution aborted by `close()` is left as it is: its committed steps are in the
 * store, and executing the run again replays them and carries on. One aborted by `stop()`
 * is closed `cancelled`, as the deployed stack's execution-status rule closes an aborted
 * Step Functions execution.
 */

/** What this starter needs of the local executor (cli/local/executor.ts). */
export interface ExecutionRunner {
  run(
    input: { runId: string; resumeSeq?: number },
    signal?: AbortSignal,
  ): Promise<{ status: 'SUCCEEDED' | 'FAILED' | 'ABORTED'; error?: { name: string; message: string } }>;
}

export interface LocalExecutionStarterOptions {
  executor: ExecutionRunner;
  /** The FailRun step handler: closes a run with the stop reason an error name implies. */
  failRun: (input: FailInput) => Promise<unknown>;
  /** Reads the run record: a stop checks that the run really ended. */
  getRun: (runId: string) => Promise<RunMeta | undefined>;
  log?: Logger;
}

/** The error name FailRun maps to `cancelled` (what the execution-status rule sends for ABORTED). */
export const EXECUTION_ABORTED = 'looprail.ExecutionABORTED';

/** A step in flight lands within its own timeout; these attempts cover well past a typical step. */
const CLOSE_ATTEMPTS = 40;

interface InFlight {
  controller: AbortController;
  /** Settles when the execution has ended and its run is recorded; never rejects. */
  done: Promise<void>;
}

export class LocalExecutionStarter implements ExecutionStarter {
  readonly #executor: ExecutionRunner;
  readonly #failRun: (input: FailInput) => Promise<unknown>;
  readonly #getRun: (runId: string) => Promise<RunMeta | undefined>;
  readonly #log: Logger;
  readonly #inFlight = new Map<string, InFlight>();
  #closed = false;

  constructor(options: LocalExecutionStarterOptions) {
    this.#executor = options.executor;
    this.#failRun = options.failRun;
    this.#getRun = options.getRun;
    this.#log = options.log ?? silentLogger;
  }

  /** Starts the execution in the background; a run already executing here is left alone. */
  async start(runId: string): Promise<void> {
    if (this.#closed) throw new Error('the local host is shutting down: no new executions start');
    if (this.#inFlight.has(runId)) return;
    const controller = new AbortController();
    const done = this.#execute(runId, controller.signal).finally(() => this.#inFlight.delete(runId));
    this.#inFlight.set(runId, { controller, done });
  }

  /**
   * Starts a new execution that continues the run from `resumeSeq` (its StartRun replays the
   * stored control): how a decision reaches a run whose waiting execution died with an
   * earlier host. A run already executing here is left alone.
   */
  async resume(runId: string, resumeSeq: number): Promise<void> {
    if (this.#closed) throw new Error('the local host is shutting down: no new executions start');
    if (this.#inFlight.has(runId)) return;
    const controller = new AbortController();
    const done = this.#execute(runId, controller.signal, resumeSeq).finally(() => this.#inFlight.delete(runId));
    this.#inFlight.set(runId, { controller, done });
  }

  /** Aborts the run's execution (if it runs here) and closes the run `cancelled`. */
  async stop(runId: string, reason: string): Promise<void> {
    const running = this.#inFlight.get(runId);
    if (running) {
      running.controller.abort(reason);
      await running.done;
    }
    await this.#closeCancelled(runId, reason);
  }

  /**
   * FailRun is idempotent: a run that has already ended keeps its own stop reason. An
   * aborted execution does not stop the step it was running, though, and a step that
   * commits between FailRun's read and its write makes FailRun's commit stale (it then
   * answers as if done). So check, and close again once that step has landed.
   */
  async #closeCancelled(runId: string, reason: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.#failRun({ runId, error: { Error: EXECUTION_ABORTED, Cause: reason } });
      const meta = await this.#getRun(runId);
      if (!meta || meta.status === 'finished' || meta.status === 'failed') return;
      if (attempt >= CLOSE_ATTEMPTS)
        throw new Error(`run ${runId} could not be closed cancelled: it is still ${meta.status} at seq ${meta.seq}`);
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
  }

  /** Run ids whose executions are running now. */
  running(): string[] {
    return [...this.#inFlight.keys()];
  }

  /** Resolves when the run's execution (if any runs here) has ended. */
  async settled(runId: string): Promise<void> {
    await this.#inFlight.get(runId)?.done;
  }

  /**
   * Stops accepting new executions, gives those in flight `graceMs` to end, then aborts
   * the rest. Aborted runs are not closed: started again, they resume where they were.
   */
  async close(options: { graceMs?: number } = {}): Promise<{ aborted: string[] }> {
    this.#closed = true;
    const graceMs = options.graceMs ?? 0;
    const all = () => Promise.all([...this.#inFlight.values()].map((entry) => entry.done));
    if (graceMs > 0 && this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    const aborted = this.running();
    for (const entry of this.#inFlight.values()) entry.controller.abort('the local host is closing');
    await all();
    return { aborted };
  }

  async #execute(runId: string, signal: AbortSignal, resumeSeq?: number): Promise<void> {
    try {
      const outcome = await this.#executor.run(resumeSeq === undefined ? { runId } : { runId, resumeSeq }, signal);
      this.#log.info('execution ended', { runId, status: outcome.status });
      if (outcome.status === 'FAILED') {
        // A failure no Catch handled (States.Runtime): record it, as the deployed stack's
        // execution-status rule does, so no run is left without a stop reason.
        await this.#failRun({
          runId,
          error: { Error: outcome.error?.name ?? 'States.Runtime', Cause: outcome.error?.message },
        });
      }
    } catch (error) {
      // Background work has no caller to throw to: the log is where this goes.
      this.#log.error('execution could not be run', {
        runId,
        error: (error as Error).name,
        message: (error as Error).message,
      });
    }
  }
}
