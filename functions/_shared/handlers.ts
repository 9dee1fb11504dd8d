import type { StepFunctionName } from '../../core/definitions/steps.ts';
import { requestApprovalStep } from '../../core/run/approval.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { failRunStep, finishRunStep } from '../../core/run/finish-run.ts';
import { modelStep } from '../../core/run/model-step.ts';
import { startRunStep } from '../../core/run/start-run.ts';
import { toolStep } from '../../core/run/tool-step.ts';
import { verifyStep } from '../../core/run/verify.ts';
import { continuingAfter, forExecutionRunId, type StepHandler, stepHandler } from './step-handler.ts';

export type { StepHandler } from './step-handler.ts';

/**
 * The step handlers, by the function names the state machine's placeholders use
 * (`${ModelStepFunctionArn}` → ModelStep), for the local executor. Each Lambda entry
 * (functions/step/*.ts, functions/run/*.ts, functions/approval/request-approval.ts) wraps
 * its own step the same way with stepHandler: the same code validates the same payloads
 * in both hosts.
 */
export function stepHandlers(deps: () => Promise<RunDeps> | RunDeps): Record<StepFunctionName, StepHandler> {
  return {
    StartRun: stepHandler(deps, 'StartRun', startRunStep),
    ModelStep: stepHandler(deps, 'ModelStep', continuingAfter(modelStep)),
    ToolStep: stepHandler(deps, 'ToolStep', toolStep),
    RequestApproval: stepHandler(deps, 'RequestApproval', requestApprovalStep),
    Verify: stepHandler(deps, 'Verify', continuingAfter(verifyStep)),
    FinishRun: stepHandler(deps, 'FinishRun', finishRunStep),
    FailRun: stepHandler(deps, 'FailRun', forExecutionRunId(failRunStep)),
  };
}
