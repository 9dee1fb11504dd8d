import type { Control } from '../../core/definitions/run.ts';
import { STEP_FUNCTIONS, type StepFunctionInput, type StepFunctionName } from '../../core/definitions/steps.ts';
import { continuing, runIdOfExecution } from '../../core/run/continuation.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { withSecretRedaction } from '../../core/run/redacting-deps.ts';
import { withFields } from './logger.ts';

/**
 * One state's handler: validates the payload, runs the step with redacted ports, and logs
 * ids and timings. Each Lambda entry wraps only its own step (so its bundle holds only that
 * step's code); handlers.ts builds the whole table for the local executor from the same parts.
 */
export type StepHandler = (payload: unknown) => Promise<unknown>;
export type StepBody<Name extends StepFunctionName> = (
  deps: RunDeps,
  input: StepFunctionInput<Name>,
) => Promise<unknown>;

export function stepHandler<Name extends StepFunctionName>(
  deps: () => Promise<RunDeps> | RunDeps,
  step: Name,
  body: StepBody<Name>,
): StepHandler {
  return async (payload) => {
    // Every port redacted with the secrets this process read: tool results, model requests, commits, logs.
    const resolved = withSecretRedaction(await deps());
    const input = STEP_FUNCTIONS[step].input.parse(payload) as StepFunctionInput<Name>;
    const started = Date.now();
    // Ids, names and counts only: payloads, messages and secrets never reach a log line.
    const fields = { step, runId: input.runId, seq: 'seq' in input ? input.seq : undefined };
    try {
      const output = await body({ ...resolved, log: withFields(resolved.log, fields) }, input);
      resolved.log.info('step done', {
        ...fields,
        next: (output as { next?: string }).next,
        ms: Date.now() - started,
      });
      return output;
    } catch (thrown) {
      // The last line before an error becomes a stop detail (FailRun stores its message) or a log line.
      const error = resolved.knownSecrets ? resolved.knownSecrets.redactError(thrown) : thrown;
      const failure = error as Error;
      resolved.log.error('step failed', {
        ...fields,
        error: failure.name,
        message: failure.message,
        ms: Date.now() - started,
      });
      throw error;
    }
  };
}

/** The steps whose control goes to Route decide on continue-as-new (core/run/continuation.ts): ModelStep, Verify. */
export function continuingAfter<Name extends 'ModelStep' | 'Verify'>(
  step: (deps: RunDeps, input: StepFunctionInput<Name>) => Promise<Control>,
): StepBody<Name> {
  return async (deps, input) => continuing(await step(deps, input), input.execution);
}

/** FailRun: the execution-status rule names the execution, which for a continued run is `<runId>--c<n>`. */
export function forExecutionRunId(
  step: (deps: RunDeps, input: StepFunctionInput<'FailRun'>) => Promise<unknown>,
): StepBody<'FailRun'> {
  return (deps, input) => step(deps, { ...input, runId: runIdOfExecution(input.runId) });
}
