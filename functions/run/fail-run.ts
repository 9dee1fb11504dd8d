import { withApprovalMail } from '../_shared/approvals.ts';
import { failRunStep } from '../../core/run/finish-run.ts';
import { forExecutionRunId, stepHandler } from '../_shared/step-handler.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import { SANDBOX_CLIENT } from '../_shared/sandbox-client.ts';
import { OTLP_EXPORT } from '../_shared/telemetry-export.ts';
import type { RunDeps } from '../../core/run/deps.ts';

let deps: RunDeps | undefined;

/**
 * The FailRun state's Lambda: a thin entry over its step (stepHandler). With the approval mail
 * settings in its environment (infra/constructs/approvals.ts) it tells an expired wait's
 * approvers that nobody decided in time, through the SES mailer.
 */
export const handler = stepHandler(
  () => (deps ??= withApprovalMail(lambdaDeps({ sandboxes: SANDBOX_CLIENT, telemetry: OTLP_EXPORT }))),
  'FailRun',
  forExecutionRunId(failRunStep),
);
