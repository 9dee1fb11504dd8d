import { toolStep } from '../../core/run/tool-step.ts';
import { stepHandler } from '../_shared/step-handler.ts';
import { AGENT_CLIENTS } from '../_shared/agent-clients.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import { SKILL_REGISTRY } from '../_shared/skill-registry.ts';
import { SANDBOX_CLIENT } from '../_shared/sandbox-client.ts';

/** The ToolStep state's Lambda: a thin entry over its step (stepHandler). */
export const handler = stepHandler(
  () => lambdaDeps({ agents: AGENT_CLIENTS, sandboxes: SANDBOX_CLIENT, skills: SKILL_REGISTRY }),
  'ToolStep',
  toolStep,
);
