import type { SFNClient } from '@aws-sdk/client-sfn';
import { onFirstUse } from '../aws/on-first-use.ts';
import { TaskGoneError } from '../../core/approvals/errors.ts';
import { TransientError } from '../../core/errors.ts';
import type { TaskTokenSender } from '../../core/ports/executions.ts';
import { isTransientSfnError } from './sfn-errors.ts';

/**
 * The TaskTokenSender on AWS: SendTaskSuccess / SendTaskFailure to the execution waiting
 * in RequestApproval. Only the approval handler's role may call these (infra). A token
 * whose task has ended (timed out, the execution stopped) is TaskGoneError: the caller
 * answers "no longer waiting", never a 5xx. The execution just waits on AWS, so `resume`
 * is not needed here.
 */

/** Step Functions caps `cause` at 32,768 characters; the output at 256 KB (ours is a few hundred bytes). */
const MAX_CAUSE = 32_768;
const GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);
export class StepFunctionsTaskSender implements TaskTokenSender {
  readonly #client: () => Promise<SFNClient>;

  constructor(options: { client?: SFNClient } = {}) {
    this.#client = onFirstUse(async () => new (await import('@aws-sdk/client-sfn')).SFNClient({}), options.client);
  }

  async sendTaskSuccess(token: string, output: unknown): Promise<void> {
    const { SendTaskSuccessCommand } = await import('@aws-sdk/client-sfn');
    const client = await this.#client();
    await this.#send('SendTaskSuccess', () =>
      client.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) })),
    );
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
    const { SendTaskFailureCommand } = await import('@aws-sdk/client-sfn');
    const client = await this.#client();
    await this.#send('SendTaskFailure', () =>
      client.send(new SendTaskFailureCommand({ taskToken: token, error, cause: cause.slice(0, MAX_CAUSE) })),
    );
  }

  async #send(operation: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      const name = error instanceof Error ? error.name : typeof error;
      // Never the token, nor the SDK's message (it may quote the request): the operation and the error name.
      if (GONE.has(name))
        throw new TaskGoneError(
          `Step Functions ${operation}: the execution no longer waits on this approval (${name})`,
        );
      if (isTransientSfnError(name, error))
        throw new TransientError(`Step Functions ${operation} failed with ${name}; try again`);
      throw new Error(`Step Functions ${operation} failed with ${name}`);
    }
  }
}
