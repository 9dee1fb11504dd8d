import type { SFNClient } from '@aws-sdk/client-sfn';
import { onFirstUse } from '../aws/on-first-use.ts';
import { ConfigurationError, TransientError } from '../../core/errors.ts';
import type { ExecutionStarter } from '../../core/ports/executions.ts';
import { epochForSeq, executionNameFor } from '../../core/run/continuation.ts';
import { isTransientSfnError } from './sfn-errors.ts';

/**
 * The ExecutionStarter on AWS: one Step Functions Standard execution per run, named by
 * the run id with input `{ "runId" }`. Starting a run whose execution exists is a no-op
 * (Step Functions refuses a second execution with the same name), so a repeated trigger
 * never runs a loop twice. Stopping aborts the execution; the stack's execution-status
 * rule then closes the run `cancelled`.
 */

export interface StepFunctionsStarterOptions {
  stateMachineArn: string;
  client?: SFNClient;
}

/** Step Functions caps `cause` at 32,768 characters. */
const MAX_CAUSE = 32_768;
/** What StopExecution records as the error: the reason is in the cause. */
export const CANCELLED_ERROR = 'looprail.Cancelled';

const STATE_MACHINE_ARN = /^arn:([\w-]+):states:([\w-]+):(\d{12}):stateMachine:([\w-]{1,80})$/;

export class StepFunctionsExecutionStarter implements ExecutionStarter {
  readonly #client: () => Promise<SFNClient>;
  readonly #stateMachineArn: string;
  readonly #executionArnPrefix: string;

  constructor(options: StepFunctionsStarterOptions) {
    const parts = STATE_MACHINE_ARN.exec(options.stateMachineArn);
    if (!parts)
      throw new ConfigurationError(
        `"${options.stateMachineArn}" is not a state machine ARN (arn:<partition>:states:<region>:<account>:stateMachine:<name>)`,
      );
    const [, partition, region, account, name] = parts;
    this.#stateMachineArn = options.stateMachineArn;
    this.#executionArnPrefix = `arn:${partition}:states:${region}:${account}:execution:${name}:`;
    this.#client = onFirstUse(async () => new (await import('@aws-sdk/client-sfn')).SFNClient({}), options.client);
  }

  /** The execution's ARN follows from the run id: no lookup needed to stop it. */
  executionArn(runId: string): string {
    return this.#executionArnPrefix + runId;
  }

  async start(runId: string): Promise<void> {
    const { StartExecutionCommand } = await import('@aws-sdk/client-sfn');
    const client = await this.#client();
    try {
      await client.send(
        new StartExecutionCommand({
          stateMachineArn: this.#stateMachineArn,
          name: runId,
          input: JSON.stringify({ runId }),
        }),
      );
    } catch (error) {
      // Already started (by this trigger earlier, or another): that is the point of naming it by the run.
      if (errorName(error) === 'ExecutionAlreadyExists') return;
      throw translated('StartExecution', runId, error);
    }
  }

  /**
   * Stops the run's current execution. A long run continues in new executions
   * (`<runId>--c<n>`, core/run/continuation.ts); at `seq` it is in epoch seq/1000's, or
   * still in the one before if its next Route has not come yet: both are stopped.
   */
  async stop(runId: string, reason: string, seq = 0): Promise<void> {
    const epoch = epochForSeq(seq);
    const names = [...new Set([executionNameFor(runId, epoch), executionNameFor(runId, Math.max(0, epoch - 1))])];
    await Promise.all(names.map((name) => this.stopExecution(runId, name, reason)));
  }

  private async stopExecution(runId: string, name: string, reason: string): Promise<void> {
    const { StopExecutionCommand } = await import('@aws-sdk/client-sfn');
    const client = await this.#client();
    try {
      await client.send(
        new StopExecutionCommand({
          executionArn: this.executionArn(name),
          error: CANCELLED_ERROR,
          cause: reason.slice(0, MAX_CAUSE),
        }),
      );
    } catch (error) {
      // Never started (a queued run, or an epoch not reached): nothing to stop; the caller closes the run.
      if (errorName(error) === 'ExecutionDoesNotExist') return;
      throw translated('StopExecution', runId, error);
    }
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** Throttling and 5xx may pass next time; a missing or misnamed state machine will not. */
function translated(operation: string, runId: string, error: unknown): Error {
  const name = errorName(error);
  const message = `Step Functions ${operation} for run ${runId} failed with ${name}: ${error instanceof Error ? error.message : String(error)}`;
  if (isTransientSfnError(name, error)) return new TransientError(message, { cause: error });
  if (name === 'StateMachineDoesNotExist' || name === 'StateMachineDeleting' || name === 'AccessDeniedException')
    return new ConfigurationError(message, { cause: error });
  return error instanceof Error ? error : new Error(message);
}
