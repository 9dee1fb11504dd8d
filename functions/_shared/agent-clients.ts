import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { onFirstUse } from '../../adapters/aws/on-first-use.ts';
import { LambdaMcpHosts } from '../../adapters/mcp/host-client.ts';
import type { McpHostNames } from '../../adapters/mcp/host-protocol.ts';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { modelProviders } from '../../adapters/models/index.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { scopesWith } from './agent-scopes.ts';
import type { AgentClients } from './runtime.ts';

/**
 * The clients that act for an agent: its MCP tools (spawned, or invoked on their host
 * functions) and its model providers, with the function's own role or, per run, the
 * agent's (agent-scopes.ts). Only the loop's steps that act for an agent import this module
 * (StartRun, ModelStep, ToolStep, Verify: `lambdaDeps({ agents: AGENT_CLIENTS })`), so the
 * MCP SDK stays out of every other bundle.
 */

/** The function's own tools and providers, reading secrets with its own role. */
export function ownAgentClients(options: {
  secrets: SecretStore;
  projectRoot: string;
  stateDir: string;
  mcpHosts?: McpHostNames;
}): Pick<RunDeps, 'tools' | 'providers'> {
  const tools = new McpToolGateway({
    secrets: options.secrets,
    projectRoot: options.projectRoot,
    stateDir: options.stateDir,
    ...(options.mcpHosts ? { hosts: new LambdaMcpHosts(options.mcpHosts, lazyLambdaClient()) } : {}),
  });
  return { tools, providers: modelProviders({ secrets: options.secrets }) };
}

/**
 * Per run, the MCP tools as the agent's role: hosted servers are invoked as the agent, so
 * only the roles of agents that declare a server may invoke its host.
 */
export const agentScopes = scopesWith(
  ({ secrets, credentials, projectRoot, stateDir, mcpHosts }) =>
    new McpToolGateway({
      secrets,
      projectRoot,
      stateDir,
      ...(mcpHosts ? { hosts: new LambdaMcpHosts(mcpHosts, lazyLambdaClient(credentials)) } : {}),
    }),
);

/** A Lambda client built on first use (a step that reaches no hosted server builds none, nor loads the package). */
function lazyLambdaClient(credentials?: AwsCredentialIdentityProvider): () => Promise<LambdaClient> {
  return onFirstUse(
    async () => new (await import('@aws-sdk/client-lambda')).LambdaClient(credentials ? { credentials } : {}),
  );
}

/** What the loop's steps that call tools hand to lambdaDeps (functions/_shared/runtime.ts). */
export const AGENT_CLIENTS: AgentClients = { own: ownAgentClients, scopes: agentScopes };
