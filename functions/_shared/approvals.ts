import { z } from 'zod';
import { StepFunctionsTaskSender } from '../../adapters/executions/step-function-tasks.ts';
import { SesMailer } from '../../adapters/mail/ses.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import { DEFAULT_SIGNING_SECRET } from '../../core/approvals/deps.ts';
import type { RunDeps } from '../../core/run/deps.ts';

/**
 * The approval flow's part of the composition root on AWS, from the environment the stack
 * sets (infra/constructs/approvals.ts): the signing secret's name, the HTTP API's URL the
 * links point to, org-wide fallback approvers, and the SES sender. Only the approval
 * handler gets the task sender (`decide: true`); RequestApproval only mails.
 */

const ApprovalEnv = z.object({
  LOOPRAIL_APPROVAL_SIGNING_SECRET: z.string().min(1).default(DEFAULT_SIGNING_SECRET),
  LOOPRAIL_PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'expected the HTTP API URL approval links point to' }),
  LOOPRAIL_APPROVERS: z.string().default(''),
  LOOPRAIL_MAIL_FROM: z.string().optional(),
  AWS_REGION: z.string().min(1),
});

export function withApprovalFlow(base: RunDeps, options: { decide: boolean }, env: Record<string, string | undefined> = process.env): RunDeps {
  const parsed = ApprovalEnv.parse(env);
  return {
    ...base,
    approvals: {
      signingSecret: parsed.LOOPRAIL_APPROVAL_SIGNING_SECRET,
      secrets: new SecretsManagerStore({}),
      baseUrl: () => parsed.LOOPRAIL_PUBLIC_URL,
      fallbackApprovers: parsed.LOOPRAIL_APPROVERS.split(',').map((each) => each.trim()).filter(Boolean),
      ...(options.decide ? { tasks: new StepFunctionsTaskSender() } : {}),
    },
    ...(parsed.LOOPRAIL_MAIL_FROM ? { mailer: new SesMailer({ from: parsed.LOOPRAIL_MAIL_FROM, region: parsed.AWS_REGION }) } : {}),
  };
}
