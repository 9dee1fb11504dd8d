import { verifyStep } from '../../core/run/verify.ts';
import { continuingAfter, stepHandler } from '../_shared/step-handler.ts';
import { AGENT_CLIENTS } from '../_shared/agent-clients.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import { SANDBOX_CLIENT } from '../_shared/sandbox-client.ts';

/** The Verify state's Lambda: a thin entry over its step (stepHandler); verify.checks run commands in the run's sandbox. */
export const handler = stepHandler(
  () => lambdaDeps({ agents: AGENT_CLIENTS, sandboxes: SANDBOX_CLIENT }),
  'Verify',
  continuingAfter(verifyStep),
);
