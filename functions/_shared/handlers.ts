import { FailInput, StartInput, StepInput } from '../../core/definitions/run.ts';
import { requestApprovalStep } from '../../core/run/approval.ts';
import { continuing, runIdOfExecution } from '../../core/run/continuation.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { failRunStep, finishRunStep } from '../../core/run/finish-run.ts';
import { modelStep } from '../../core/run/model-step.ts';
import { startRunStep } from '../../core/run/start-run.ts';
import { toolStep } from '../../core/run/tool-step.ts';
import { verifyStep } from '../../core/run/verify.ts';
import { z } from 'zod';
import { withFields } from './logger.ts';

/**
 * The step handlers, by the function names the state machine's placeholders use
 * (`${ModelStepFunctionArn}` → ModelStep). The Lambda entry points and the local
 * executor both call these: the same code validates the same payloads in both hosts.
 */
export type StepHandler = (payload: unknown) => Promise<unknown>;

const ApprovalInput = StepInput.extend({ taskToken: z.string().min(1) });

export function stepHandlers(deps: () => Promise<RunDeps> | RunDeps): Record<StepFunctionName, StepHandler> {
  const run = <T extends { runId: string }>(schema: z.ZodType<T>, fn: (deps: RunDeps, input: T) => Promise<unknown>, step: StepFunctionName): StepHandler =>
    async (payload) => {
      const resolved = await deps();
      const input = schema.parse(payload);
      const started = Date.now();
      // Ids, names and counts only: payloads, messages and secrets never reach a log line.
      const fields = { step, runId: input.runId, seq: (input as { seq?: number }).seq };
      try {
        const output = await fn({ ...resolved, log: withFields(resolved.log, fields) }, input);
        resolved.log.info('step done', { ...fields, next: (output as { next?: string }).next, ms: Date.now() - started });
        return output;
      } catch (error) {
        const failure = error as Error;
        resolved.log.error('step failed', { ...fields, error: failure.name, message: failure.message, ms: Date.now() - started });
        throw error;
      }
    };
  return {
    StartRun: run(StartInput, startRunStep, 'StartRun'),
    // The steps whose control goes to Route decide on continue-as-new (core/run/continuation.ts).
    ModelStep: run(StepInput, async (deps, input) => continuing(await modelStep(deps, input), input.execution), 'ModelStep'),
    ToolStep: run(StepInput, toolStep, 'ToolStep'),
    RequestApproval: run(ApprovalInput, requestApprovalStep, 'RequestApproval'),
    Verify: run(StepInput, async (deps, input) => continuing(await verifyStep(deps, input), input.execution), 'Verify'),
    FinishRun: run(StepInput, finishRunStep, 'FinishRun'),
    // The execution-status rule names the execution, which for a continued run is `<runId>--c<n>`.
    FailRun: run(FailInput, (deps, input) => failRunStep(deps, { ...input, runId: runIdOfExecution(input.runId) }), 'FailRun'),
  };
}

export const STEP_FUNCTION_NAMES = ['StartRun', 'ModelStep', 'ToolStep', 'RequestApproval', 'Verify', 'FinishRun', 'FailRun'] as const;
export type StepFunctionName = (typeof STEP_FUNCTION_NAMES)[number];
