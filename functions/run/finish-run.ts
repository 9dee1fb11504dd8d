import { withApprovalMail } from '../_shared/approvals.ts';
import { finishRunStep } from '../../core/run/finish-run.ts';
import { stepHandler } from '../_shared/step-handler.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import { SANDBOX_CLIENT } from '../_shared/sandbox-client.ts';
import { OTLP_EXPORT } from '../_shared/telemetry-export.ts';
import type { RunDeps } from '../../core/run/deps.ts';

let deps: RunDeps | undefined;

/**
 * The FinishRun state's Lambda: a thin entry over its step (stepHandler). With the mail
 * settings in its environment (infra/constructs/approvals.ts) it sends the agents' `notify:`
 * mail through the SES mailer.
 */
export const handler = stepHandler(
  () => (deps ??= withApprovalMail(lambdaDeps({ sandboxes: SANDBOX_CLIENT, telemetry: OTLP_EXPORT }))),
  'FinishRun',
  finishRunStep,
);
