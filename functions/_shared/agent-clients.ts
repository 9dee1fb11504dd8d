import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { LambdaMcpHosts } from '../../adapters/mcp/host-client.ts';
import type { McpHostNames } from '../../adapters/mcp/host-protocol.ts';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { modelProviders } from '../../adapters/models/index.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import { agentRoleName } from '../../core/definitions/identity.ts';
import { recordingSecrets, type KnownSecrets } from '../../core/guardrails/known-secrets.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { AgentScope, RunDeps } from '../../core/run/deps.ts';
import type { AgentClients } from './runtime.ts';

/**
 * The clients that act for an agent: its MCP tools (spawned, or invoked on their host
 * functions) and its model providers, with the function's own role or, per run, the
 * agent's. Only the loop's steps that call tools or models import this module (StartRun,
 * ModelStep, ToolStep, Verify: `lambdaDeps({ agents: AGENT_CLIENTS })`), so the MCP SDK, the model
 * adapters and the Lambda, Bedrock and STS clients stay out of every other bundle.
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

/** How many runs' scoped clients a warm Lambda keeps (each holds its own STS session). */
const MAX_SCOPES = 16;

/**
 * Clients that act as an agent's own IAM role, assumed with the run id as the session
 * name, so CloudTrail shows which loop (and which run) read a secret or called a model.
 */
export function agentScopes(options: {
  roleArnPrefix: string;
  projectRoot: string;
  stateDir: string;
  mcpHosts?: McpHostNames;
  /** Where the scopes' secret values are remembered, for redaction. */
  knownSecrets?: KnownSecrets;
}): NonNullable<RunDeps['scopeFor']> {
  const cache = new Map<string, AgentScope>();
  // `arn:aws:iam::<account>:role/<name prefix>`: the 64-character limit applies to the name only.
  const nameStart = options.roleArnPrefix.indexOf(':role/') + ':role/'.length;
  const arnBase = options.roleArnPrefix.slice(0, nameStart);
  const namePrefix = options.roleArnPrefix.slice(nameStart);
  return (identity, runId) => {
    const key = `${identity}\u0000${runId}`;
    const cached = cache.get(key);
    if (cached) return cached;
    const roleArn = arnBase + agentRoleName(namePrefix, identity);
    const credentials = fromTemporaryCredentials({
      params: { RoleArn: roleArn, RoleSessionName: runId.slice(0, 64), DurationSeconds: 3600 },
    });
    const read = new SecretsManagerStore({ client: new SecretsManagerClient({ credentials }) });
    const secrets = options.knownSecrets ? recordingSecrets(read, options.knownSecrets) : read;
    // Hosted servers are invoked as the agent: only the roles of agents that declare a server may invoke its host.
    const hosts = options.mcpHosts
      ? { hosts: new LambdaMcpHosts(options.mcpHosts, lazyLambdaClient(credentials)) }
      : {};
    const scope: AgentScope = {
      secrets,
      tools: new McpToolGateway({ secrets, projectRoot: options.projectRoot, stateDir: options.stateDir, ...hosts }),
      providers: modelProviders({
        secrets,
        bedrockClientFor: (region) => new BedrockRuntimeClient({ region, credentials }),
      }),
    };
    if (cache.size >= MAX_SCOPES) {
      const [oldestKey, oldest] = cache.entries().next().value!;
      cache.delete(oldestKey);
      void oldest.tools.close();
    }
    cache.set(key, scope);
    return scope;
  };
}

/** A Lambda client built on first use (a step that reaches no hosted server builds none). */
function lazyLambdaClient(credentials?: ReturnType<typeof fromTemporaryCredentials>): () => LambdaClient {
  let client: LambdaClient | undefined;
  return () => (client ??= new LambdaClient(credentials ? { credentials } : {}));
}

/** What the loop's steps hand to lambdaDeps (functions/_shared/runtime.ts). */
export const AGENT_CLIENTS: AgentClients = { own: ownAgentClients, scopes: agentScopes };
