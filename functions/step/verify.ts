import { verifyStep } from '../../core/run/verify.ts';
import { continuingAfter, stepHandler } from '../_shared/step-handler.ts';
import { AGENT_CLIENTS } from '../_shared/agent-clients.ts';
import { lambdaDeps } from '../_shared/runtime.ts';

/** The Verify state's Lambda: a thin entry over its step (stepHandler). */
export const handler = stepHandler(() => lambdaDeps({ agents: AGENT_CLIENTS }), 'Verify', continuingAfter(verifyStep));
