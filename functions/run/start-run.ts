import { stepHandlers } from '../_shared/handlers.ts';
import { AGENT_CLIENTS } from '../_shared/agent-clients.ts';
import { lambdaDeps } from '../_shared/runtime.ts';

/** The StartRun state's Lambda: a thin entry over the shared step handler. */
export const handler = stepHandlers(() => lambdaDeps({ agents: AGENT_CLIENTS })).StartRun;
