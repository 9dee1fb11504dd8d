import type { TaskTokenSender } from '../../core/ports/executions.ts';

/**
 * The local host's TaskTokenSender. While the execution that asked is still waiting in
 * this process, the token resolves its wait, as SendTaskSuccess/Failure would. When that
 * execution is gone (the dev server restarted since the run paused), the decision has
 * already been committed to the run, so a new execution continues the run from that
 * commit: a success goes on to the tool step, a rejection that stops the run goes on to
 * FinishRun (the decision set its stop reason). Nothing is lost, because the run's state
 * is all in DynamoDB.
 */

export interface TokenWaiter {
  pendingTokens(): string[];
  sendTaskSuccess(token: string, output: unknown): void;
  sendTaskFailure(token: string, error: string, cause: string): void;
}

export interface LocalTaskSenderOptions {
  executor: TokenWaiter;
  /** Starts an execution that continues the run at `seq` (LocalExecutionStarter.resume). */
  resume: (runId: string, seq: number) => Promise<void>;
}

export class LocalTaskSender implements TaskTokenSender {
  readonly #executor: TokenWaiter;
  readonly #resume: (runId: string, seq: number) => Promise<void>;

  constructor(options: LocalTaskSenderOptions) {
    this.#executor = options.executor;
    this.#resume = options.resume;
  }

  async sendTaskSuccess(token: string, output: unknown, resume: { runId: string; seq: number }): Promise<void> {
    if (this.#executor.pendingTokens().includes(token)) return this.#executor.sendTaskSuccess(token, output);
    await this.#resume(resume.runId, resume.seq);
  }

  async sendTaskFailure(
    token: string,
    error: string,
    cause: string,
    resume: { runId: string; seq: number },
  ): Promise<void> {
    if (this.#executor.pendingTokens().includes(token)) return this.#executor.sendTaskFailure(token, error, cause);
    await this.#resume(resume.runId, resume.seq);
  }
}
