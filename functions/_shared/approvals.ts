import { StepFunctionsTaskSender } from '../../adapters/executions/step-function-tasks.ts';
import { SesMailer } from '../../adapters/mail/ses.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { withSecretRedaction } from '../../core/run/redacting-deps.ts';
import * as z from '../../core/definitions/zod.ts';
import { ApprovalEnv } from './env-contract.ts';

/**
 * The approval flow's part of the composition root on AWS, from the environment the stack
 * sets (infra/constructs/approvals.ts): the signing secret's name, the HTTP API's URL the
 * links point to, org-wide fallback approvers, and the SES sender. Only the approval
 * handler gets the task sender (`decide: true`); RequestApproval only mails.
 */

/** The contract's approval variables, plus the region (set by the Lambda platform). */
const ApprovalFlowEnv = z.extend(ApprovalEnv, { AWS_REGION: z.string().check(z.minLength(1)) });

export function withApprovalFlow(
  base: RunDeps,
  options: { decide: boolean },
  env: Record<string, string | undefined> = process.env,
): RunDeps {
  const parsed = ApprovalFlowEnv.parse(env);
  // Redacted with the secrets this function read, like the steps: the approval pages and mail show stored text.
  return withSecretRedaction({
    ...base,
    approvals: {
      signingSecret: parsed.LOOPRAIL_APPROVAL_SIGNING_SECRET,
      secrets: new SecretsManagerStore({}),
      baseUrl: () => parsed.LOOPRAIL_PUBLIC_URL,
      fallbackApprovers: parsed.LOOPRAIL_APPROVERS.split(',')
        .map((each) => each.trim())
        .filter(Boolean),
      ...(options.decide ? { tasks: new StepFunctionsTaskSender() } : {}),
    },
    ...(parsed.LOOPRAIL_MAIL_FROM
      ? { mailer: new SesMailer({ from: parsed.LOOPRAIL_MAIL_FROM, region: parsed.AWS_REGION }) }
      : {}),
  });
}

/**
 * A step that mails approvers but never decides (RequestApproval, FailRun): the approval flow
 * when the stack gave the function its settings (LOOPRAIL_PUBLIC_URL), else the base alone.
 */
export function withApprovalMail(base: RunDeps, env: Record<string, string | undefined> = process.env): RunDeps {
  return env.LOOPRAIL_PUBLIC_URL ? withApprovalFlow(base, { decide: false }, env) : base;
}
