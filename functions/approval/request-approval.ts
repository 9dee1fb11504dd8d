import { requestApprovalStep } from '../../core/run/approval.ts';
import { stepHandler } from '../_shared/step-handler.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import { withApprovalMail } from '../_shared/approvals.ts';
import type { RunDeps } from '../../core/run/deps.ts';

let deps: RunDeps | undefined;

/**
 * The RequestApproval state's Lambda: a thin entry over its step (stepHandler). With the
 * approval settings in its environment it also mails the approvers their signed links (it
 * never resumes executions: no task sender here).
 */
export const handler = stepHandler(
  () => (deps ??= withApprovalMail(lambdaDeps())),
  'RequestApproval',
  requestApprovalStep,
);
