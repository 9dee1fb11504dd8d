import { modelProviders } from '../../adapters/models/index.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import { scopesWith } from './agent-scopes.ts';
import type { AgentClients } from './runtime.ts';

/**
 * ModelStep's clients: the agent's model providers (its own role's, or per run the
 * agent's, agent-scopes.ts) and no MCP tools. The model's tool calls are made by ToolStep,
 * so the MCP SDK and the tool-argument checks stay out of this bundle; reaching the tools
 * here is a wiring mistake, refused with what to change.
 */
const noTools: ToolGateway = {
  listTools: () => Promise.reject(refusal()),
  callTool: () => Promise.reject(refusal()),
  close: () => Promise.resolve(),
};

function refusal(): ConfigurationError {
  return new ConfigurationError(
    'this function was composed with MODEL_CLIENTS, which call models only; a step that calls MCP tools passes AGENT_CLIENTS (agent-clients.ts) to lambdaDeps',
  );
}

/** What ModelStep hands to lambdaDeps (functions/_shared/runtime.ts). */
export const MODEL_CLIENTS: AgentClients = {
  own: ({ secrets }) => ({ tools: noTools, providers: modelProviders({ secrets }) }),
  scopes: scopesWith(() => noTools),
};
