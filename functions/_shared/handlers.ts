import { STEP_FUNCTIONS, type StepFunctionInput, type StepFunctionName } from '../../core/definitions/steps.ts';
import { requestApprovalStep } from '../../core/run/approval.ts';
import { continuing, runIdOfExecution } from '../../core/run/continuation.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { failRunStep, finishRunStep } from '../../core/run/finish-run.ts';
import { modelStep } from '../../core/run/model-step.ts';
import { startRunStep } from '../../core/run/start-run.ts';
import { toolStep } from '../../core/run/tool-step.ts';
import { verifyStep } from '../../core/run/verify.ts';
import { withSecretRedaction } from '../../core/run/redacting-deps.ts';
import { withFields } from './logger.ts';

/**
 * The step handlers, by the function names the state machine's placeholders use
 * (`${ModelStepFunctionArn}` → ModelStep). The Lambda entry points and the local
 * executor both call these: the same code validates the same payloads in both hosts.
 */
export type StepHandler = (payload: unknown) => Promise<unknown>;

export function stepHandlers(deps: () => Promise<RunDeps> | RunDeps): Record<StepFunctionName, StepHandler> {
  type StepFn<Name extends StepFunctionName> = (deps: RunDeps, input: StepFunctionInput<Name>) => Promise<unknown>;
  const run =
    <Name extends StepFunctionName>(step: Name, fn: StepFn<Name>): StepHandler =>
    async (payload) => {
      // Every port redacted with the secrets this process read: tool results, model requests, commits, logs.
      const resolved = withSecretRedaction(await deps());
      const input = STEP_FUNCTIONS[step].input.parse(payload) as StepFunctionInput<Name>;
      const started = Date.now();
      // Ids, names and counts only: payloads, messages and secrets never reach a log line.
      const fields = { step, runId: input.runId, seq: 'seq' in input ? input.seq : undefined };
      try {
        const output = await fn({ ...resolved, log: withFields(resolved.log, fields) }, input);
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
  return {
    StartRun: run('StartRun', startRunStep),
    // The steps whose control goes to Route decide on continue-as-new (core/run/continuation.ts).
    ModelStep: run('ModelStep', async (deps, input) => continuing(await modelStep(deps, input), input.execution)),
    ToolStep: run('ToolStep', toolStep),
    RequestApproval: run('RequestApproval', requestApprovalStep),
    Verify: run('Verify', async (deps, input) => continuing(await verifyStep(deps, input), input.execution)),
    FinishRun: run('FinishRun', finishRunStep),
    // The execution-status rule names the execution, which for a continued run is `<runId>--c<n>`.
    FailRun: run('FailRun', (deps, input) => failRunStep(deps, { ...input, runId: runIdOfExecution(input.runId) })),
  };
}
