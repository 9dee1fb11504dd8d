import { withApprovalMail } from '../_shared/approvals.ts';
import { modelStep } from '../../core/run/model-step.ts';
import { continuingAfter, stepHandler } from '../_shared/step-handler.ts';
import { MODEL_CLIENTS } from '../_shared/model-clients.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import type { RunDeps } from '../../core/run/deps.ts';

let deps: RunDeps | undefined;

/**
 * The ModelStep state's Lambda: a thin entry over its step (stepHandler), composed with
 * the model providers only (MODEL_CLIENTS: no MCP client in this bundle). With the mail
 * settings in its environment (infra/constructs/approvals.ts) it sends budget alert mail
 * (budgets.yaml `alerts: - email:`) through the SES mailer.
 */
export const handler = stepHandler(
  () => (deps ??= withApprovalMail(lambdaDeps({ agents: MODEL_CLIENTS }))),
  'ModelStep',
  continuingAfter(modelStep),
);
