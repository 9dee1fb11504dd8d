import { FargateSandboxes, type FargateSandboxesOptions } from '../../adapters/sandbox/fargate.ts';
import { SandboxBrokerEnv } from '../_shared/env-contract.ts';
import {
  ENV_SANDBOX_CLUSTER,
  ENV_SANDBOX_EGRESS_PROXY,
  ENV_SANDBOX_REPOS,
  ENV_SANDBOX_REPOS_BUCKET,
  ENV_SANDBOX_SECURITY_GROUPS,
  ENV_SANDBOX_SIGNING_SECRET,
  ENV_SANDBOX_SUBNETS,
  ENV_SANDBOX_TASK_FAMILY_PREFIX,
} from '../../adapters/sandbox/aws-contract.ts';
import { BrokerRequest } from '../../adapters/sandbox/broker-protocol.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import { ValidationError } from '../../core/errors.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';

/**
 * The sandbox broker: a Lambda in the sandboxes' VPC, the only thing that reaches a
 * sandbox's agent. The steps invoke it with one BrokerRequest each; it answers the agent's
 * answer, or throws a named error (core/errors.ts) that Lambda returns as the function
 * error's errorType, which the steps' RemoteSandboxes turns back into the same error.
 * It reads the sandbox signing key and S3 archives; no table, no agent secrets. Its
 * environment is the contract's `sandboxBroker` role (functions/_shared/env-contract.ts).
 */

/** The provider's options from the broker's environment; a bad variable fails the container's start, naming it. */
export function brokerOptionsFromEnv(
  env: Record<string, string | undefined>,
): Omit<FargateSandboxesOptions, 'secrets'> & { signingSecret: string; log: Logger } {
  const parsed = SandboxBrokerEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new Error(`the sandbox broker's environment is invalid: ${problems}`);
  }
  const e = parsed.data;
  return {
    cluster: e[ENV_SANDBOX_CLUSTER],
    subnets: e[ENV_SANDBOX_SUBNETS],
    securityGroups: e[ENV_SANDBOX_SECURITY_GROUPS],
    taskFamilyPrefix: e[ENV_SANDBOX_TASK_FAMILY_PREFIX],
    signingSecret: e[ENV_SANDBOX_SIGNING_SECRET],
    reposBucket: e[ENV_SANDBOX_REPOS_BUCKET],
    repos: e[ENV_SANDBOX_REPOS],
    egressProxy: e[ENV_SANDBOX_EGRESS_PROXY],
    log: jsonLogger(e.LOOPRAIL_LOG_LEVEL),
  };
}

/** The handler over a provider (tests pass one wired to local endpoints). */
export function brokerHandler(sandboxes: () => FargateSandboxes): (event: unknown) => Promise<unknown> {
  return async (event) => {
    const parsed = BrokerRequest.safeParse(event);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.join('.') || '(request)'}: ${issue.message}`)
        .join('; ');
      throw new ValidationError(`not a sandbox broker request: ${problems}`);
    }
    return sandboxes().handle(parsed.data);
  };
}

let provider: FargateSandboxes | undefined;

export const handler = brokerHandler(() => {
  provider ??= new FargateSandboxes({ ...brokerOptionsFromEnv(process.env), secrets: new SecretsManagerStore({}) });
  return provider;
});
