/**
 * The names that tie the deployed sandbox parts together: infra/constructs/sandboxes/
 * sets them, the broker, the sweeper, the steps and the egress proxy read them. One
 * module, so a rename cannot drift between the stack and the code.
 */

/** On ToolStep, Verify, FinishRun and FailRun: the broker function's name. Unset: no sandboxes deployed. */
export const ENV_SANDBOX_BROKER = 'LOOPRAIL_SANDBOX_BROKER';

/** On the broker and the sweeper: the ECS cluster (ARN) the sandboxes run in. */
export const ENV_SANDBOX_CLUSTER = 'LOOPRAIL_SANDBOX_CLUSTER';
/** On the broker: the subnets (comma-separated ids) sandbox tasks are placed in. */
export const ENV_SANDBOX_SUBNETS = 'LOOPRAIL_SANDBOX_SUBNETS';
/** On the broker: the security groups (comma-separated ids) of sandbox tasks. */
export const ENV_SANDBOX_SECURITY_GROUPS = 'LOOPRAIL_SANDBOX_SECURITY_GROUPS';
/** On the broker: an agent's task definition family is this prefix plus the agent's name. */
export const ENV_SANDBOX_TASK_FAMILY_PREFIX = 'LOOPRAIL_SANDBOX_TASK_FAMILY_PREFIX';
/** On the broker and the egress proxy: the secret (by name) the sandbox tokens derive from. */
export const ENV_SANDBOX_SIGNING_SECRET = 'LOOPRAIL_SANDBOX_SIGNING_SECRET';
/** On the broker: the bucket holding the org's copy_in repositories as .tar.gz objects. */
export const ENV_SANDBOX_REPOS_BUCKET = 'LOOPRAIL_SANDBOX_REPOS_BUCKET';
/** On the broker: JSON `{ "<agent>": "<object key>" }` of those archives. */
export const ENV_SANDBOX_REPOS = 'LOOPRAIL_SANDBOX_REPOS';
/** On the broker: `host:port` of the egress proxy; set only when some agent has a network allowlist. */
export const ENV_SANDBOX_EGRESS_PROXY = 'LOOPRAIL_SANDBOX_EGRESS_PROXY';

/** The signing key's secret when the deployment names none (the broker and the egress proxy). */
export const DEFAULT_SANDBOX_SIGNING_SECRET = 'looprail/sandbox-signing-key';
/** A sandbox task's lifetime when none is configured: a day, like the longest sandbox run_timeout_seconds. */
export const DEFAULT_SANDBOX_MAX_SECONDS = 86_400;

/** On the egress proxy: JSON `{ "<agent>": ["host", "*.suffix", "host:port"] }`. */
export const ENV_EGRESS_ALLOWLISTS = 'LOOPRAIL_EGRESS_ALLOWLISTS';

/** In a sandbox container (task definition): digest of the agent token, idle and lifetime limits. */
export const ENV_AGENT_TOKEN_SHA256 = 'LOOPRAIL_SANDBOX_TOKEN_SHA256';
export const ENV_AGENT_IDLE_SECONDS = 'LOOPRAIL_SANDBOX_IDLE_SECONDS';
export const ENV_AGENT_MAX_SECONDS = 'LOOPRAIL_SANDBOX_MAX_SECONDS';

/** The sandbox container's name in every task definition (the one the broker overrides). */
export const WORKSPACE_CONTAINER = 'workspace';
/** Where the init container leaves node and the agent for the workspace container. */
export const AGENT_MOUNT = '/looprail';
/** The egress proxy's port. */
export const EGRESS_PROXY_PORT = 3128;
