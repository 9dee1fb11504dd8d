import { DEFAULT_SANDBOX_MAX_SECONDS, EGRESS_PROXY_PORT } from '../../../adapters/sandbox/aws-contract.ts';

/** Names and defaults the sandbox constructs share (the run-time side's are in adapters/sandbox/aws-contract.ts). */

export const DEFAULT_SANDBOX_IDLE_SECONDS = 3600;
/** The sandboxes' lifetime: the one the sweeper defaults to as well. */
export { DEFAULT_SANDBOX_MAX_SECONDS };

/** The init container's name: it fills the agent volume for the workspace container. */
export const INIT_CONTAINER = 'looprail-init';

/** The name of the Cloud Map namespace the egress proxy registers in, and its service. */
export const SANDBOX_NAMESPACE = 'sandbox.looprail.internal';
export const EGRESS_PROXY_SERVICE = 'egress';
export const EGRESS_PROXY_ADDRESS = `${EGRESS_PROXY_SERVICE}.${SANDBOX_NAMESPACE}:${EGRESS_PROXY_PORT}`;

/** The VPC's subnet groups: the sandboxes' (and the broker's), and the egress proxy's. */
export const SANDBOX_SUBNETS = 'Sandboxes';
export const PROXY_SUBNETS = 'EgressProxy';

/** cdk-nag acknowledgements the sandbox tasks and the egress proxy share. */
export const ENV_REASON =
  "These environment variables are settings (time limits, allowlisted host names, a secret's name), never secret " +
  'values: the sandbox holds no secret, and the proxy reads the signing key from Secrets Manager by name.';
export const AUTH_TOKEN_REASON =
  'ecr:GetAuthorizationToken takes no resource (it returns a login to the registry); which images the role may ' +
  'pull is limited by the repository statements beside it.';
