import { withApprovalMail } from '../_shared/approvals.ts';
import { modelStep } from '../../core/run/model-step.ts';
import { continuingAfter, stepHandler } from '../_shared/step-handler.ts';
import { AGENT_CLIENTS } from '../_shared/agent-clients.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import type { RunDeps } from '../../core/run/deps.ts';

let deps: RunDeps | undefined;

/**
 * The ModelStep state's Lambda: a thin entry over its step (stepHandler), composed with the
 * agent's models and MCP tools (AGENT_CLIENTS: it makes the turns it asked for unless only the
 * ToolStep may, core/run/tool-turn.ts). With the mail settings in its environment
 * (infra/constructs/approvals.ts) it sends budget alert mail (budgets.yaml `alerts: - email:`)
 * through the SES mailer.
 */
export const handler = stepHandler(
  () => (deps ??= withApprovalMail(lambdaDeps({ agents: AGENT_CLIENTS }))),
  'ModelStep',
  continuingAfter(modelStep),
);
