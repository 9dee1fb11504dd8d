import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { onFirstUse } from '../../adapters/aws/on-first-use.ts';
import type { McpHostNames } from '../../adapters/mcp/host-protocol.ts';
import { modelProviders } from '../../adapters/models/index.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import { agentRoleName } from '../../core/definitions/identity.ts';
import { recordingSecrets, type KnownSecrets } from '../../core/guardrails/known-secrets.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import type { AgentScope, RunDeps } from '../../core/run/deps.ts';

/**
 * Clients that act as an agent's own IAM role, assumed with the run id as the session
 * name, so CloudTrail shows which loop (and which run) read a secret or called a model.
 * The tools of a scope come from the caller (agent-clients.ts): the MCP gateway, as the agent.
 */

/** How many runs' scoped clients a warm Lambda keeps (each holds its own STS session). */
const MAX_SCOPES = 16;

export interface ScopeOptions {
  roleArnPrefix: string;
  projectRoot: string;
  stateDir: string;
  mcpHosts?: McpHostNames;
  /** Where the scopes' secret values are remembered, for redaction. */
  knownSecrets?: KnownSecrets;
}

/** A scope's tools, acting as the agent: its secrets, and its credentials for hosted servers. */
export type ScopedTools = (
  options: Omit<ScopeOptions, 'roleArnPrefix' | 'knownSecrets'> & {
    secrets: SecretStore;
    credentials: AwsCredentialIdentityProvider;
  },
) => ToolGateway;

export function scopesWith(tools: ScopedTools): (options: ScopeOptions) => NonNullable<RunDeps['scopeFor']> {
  return (options) => {
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
      const credentials = assumedRole({ RoleArn: roleArn, RoleSessionName: runId.slice(0, 64), DurationSeconds: 3600 });
      const read = new SecretsManagerStore({ credentials });
      const secrets = options.knownSecrets ? recordingSecrets(read, options.knownSecrets) : read;
      const { projectRoot, stateDir, mcpHosts } = options;
      const scope: AgentScope = {
        secrets,
        tools: tools({ secrets, credentials, projectRoot, stateDir, ...(mcpHosts ? { mcpHosts } : {}) }),
        providers: modelProviders({
          secrets,
          bedrockClientFor: async (region) =>
            new (await import('@aws-sdk/client-bedrock-runtime')).BedrockRuntimeClient({ region, credentials }),
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
  };
}

/**
 * The agent role's credentials (STS AssumeRole), with the credential-providers package
 * imported when a client first signs a request as the agent, not at the function's init.
 */
function assumedRole(params: { RoleArn: string; RoleSessionName: string; DurationSeconds: number }) {
  const provider = onFirstUse(async () =>
    (await import('@aws-sdk/credential-providers')).fromTemporaryCredentials({ params }),
  );
  const credentials: AwsCredentialIdentityProvider = async (identity) => (await provider())(identity);
  return credentials;
}
