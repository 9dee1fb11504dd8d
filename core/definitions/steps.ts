import { FailInput, StartInput, StepInput } from './run.ts';
import * as z from './zod.ts';

/** RequestApproval's payload: the step's, plus the token that resumes the waiting execution. */
export const ApprovalInput = z.extend(StepInput, { taskToken: z.string().check(z.minLength(1)) });

/**
 * The loop's Lambda steps, by the names the state machine's `${<Step>FunctionArn}`
 * placeholders use, each with the payload it takes. Defined once: the handlers
 * (functions/_shared/handlers.ts), their Lambdas (STEP_SPECS in
 * infra/constructs/step-functions.ts), the local executor and the tests are records keyed
 * by it, so a step added here without its handler or its Lambda fails the build.
 */
export const STEP_FUNCTIONS = {
  StartRun: { input: StartInput },
  ModelStep: { input: StepInput },
  ToolStep: { input: StepInput },
  RequestApproval: { input: ApprovalInput },
  Verify: { input: StepInput },
  FinishRun: { input: StepInput },
  FailRun: { input: FailInput },
} as const satisfies Record<string, { input: z.ZodMiniType<{ runId: string }> }>;

export type StepFunctionName = keyof typeof STEP_FUNCTIONS;
export type StepFunctionInput<Name extends StepFunctionName> = z.infer<(typeof STEP_FUNCTIONS)[Name]['input']>;

/** In the record's order (the state machine's, start to end). */
export const STEP_FUNCTION_NAMES = Object.keys(STEP_FUNCTIONS) as readonly StepFunctionName[];

/** The ASL placeholder a step's function ARN replaces (`ModelStep` → `ModelStepFunctionArn`). */
export function stepFunctionPlaceholder(name: StepFunctionName): string {
  return `${name}FunctionArn`;
}
