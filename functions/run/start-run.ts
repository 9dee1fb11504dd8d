import { startRunStep } from '../../core/run/start-run.ts';
import { stepHandler } from '../_shared/step-handler.ts';
import { AGENT_CLIENTS } from '../_shared/agent-clients.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import { SKILL_REGISTRY } from '../_shared/skill-registry.ts';

/** The StartRun state's Lambda: a thin entry over its step (stepHandler). */
export const handler = stepHandler(
  () => lambdaDeps({ agents: AGENT_CLIENTS, skills: SKILL_REGISTRY }),
  'StartRun',
  startRunStep,
);
