import { recordingSecrets, KnownSecrets } from '../../core/guardrails/known-secrets.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { ownAgentClients } from './agent-clients.ts';
import { baseRunDeps, type RuntimeOptions } from './runtime.ts';
import { SKILL_REGISTRY } from './skill-registry.ts';

/**
 * Every port wired at once, for the local host (cli/local/host.ts): the stores, and the
 * tools and providers acting with the host's own secrets. Lambda composes per role instead
 * (runtime.ts `lambdaDeps`).
 */
export function createRunDeps(options: RuntimeOptions): RunDeps & { close(): Promise<void> } {
  // Every value read is remembered, so the one redactor knows each secret (core/run/redacting-deps.ts).
  const knownSecrets = options.knownSecrets ?? new KnownSecrets();
  const secrets = recordingSecrets(options.secrets, knownSecrets);
  const clients = ownAgentClients({
    secrets,
    projectRoot: options.projectRoot,
    stateDir: options.stateDir,
    mcpHosts: options.mcpHosts,
  });
  return {
    ...baseRunDeps({ ...options, skills: options.skills ?? SKILL_REGISTRY, knownSecrets }),
    ...clients,
    close: () => clients.tools.close(),
  };
}
