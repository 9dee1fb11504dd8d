import { sendDueApprovalReminders } from '../../core/approvals/reminders.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { withApprovalFlow } from '../_shared/approvals.ts';
import { lambdaDeps } from '../_shared/runtime.ts';

let deps: RunDeps | undefined;

/**
 * The approval reminder sweep on AWS, invoked by an EventBridge rule every five minutes:
 * mails the reminders and escalations the pending approvals' rules have made due, each once
 * (a conditional write on the approval record claims it first). It mails and writes the
 * approval record only: no task sender, it never resumes an execution.
 */
export async function handler(): Promise<{ reminders: number; escalations: number }> {
  deps ??= withApprovalFlow(lambdaDeps(), { decide: false });
  const done = await sendDueApprovalReminders(deps, deps.clock.now());
  return {
    reminders: done.filter((each) => each.kind === 'reminder').length,
    escalations: done.filter((each) => each.kind === 'escalation').length,
  };
}
