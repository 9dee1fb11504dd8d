import { DEFAULT_SIGNING_SECRET } from '../../core/approvals/deps.ts';
import {
  DEFAULT_SANDBOX_MAX_SECONDS,
  DEFAULT_SANDBOX_SIGNING_SECRET,
  ENV_AGENT_MAX_SECONDS,
  ENV_SANDBOX_BROKER,
  ENV_SANDBOX_CLUSTER,
  ENV_SANDBOX_EGRESS_PROXY,
  ENV_SANDBOX_REPOS,
  ENV_SANDBOX_REPOS_BUCKET,
  ENV_SANDBOX_SECURITY_GROUPS,
  ENV_SANDBOX_SIGNING_SECRET,
  ENV_SANDBOX_SUBNETS,
  ENV_SANDBOX_TASK_FAMILY_PREFIX,
} from '../../adapters/sandbox/aws-contract.ts';
import { HostedServer, McpHostNames } from '../../adapters/mcp/host-protocol.ts';
import * as z from '../../core/definitions/zod.ts';

/**
 * The environment contract between the stack and the Lambda functions, defined once: the
 * functions parse their environment with these schemas (runtime.ts, approvals.ts) and the
 * constructs build it with `functionEnvironment` or `ownEnvironment`, typed from the same
 * schemas, so a construct cannot leave out a variable its function's parser requires (and
 * HandlerFunction takes no environment built otherwise). Names and zod
 * only: infra imports this module, and must not pull runtime code into the synth.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const LogLevelVariable = z._default(z.enum(LOG_LEVELS), 'info');

/** A JSON variable parsed with a schema; `expected` says what it should hold. */
function jsonVariable<T extends z.ZodMiniType>(schema: T, expected: string) {
  return z.pipe(
    z.string(),
    z.transform((value: string, context): z.output<T> => {
      try {
        return schema.parse(JSON.parse(value));
      } catch {
        context.issues.push({ code: 'custom', message: `expected JSON ${expected}`, input: value });
        return z.NEVER;
      }
    }),
  );
}

/**
 * The MCP host functions by server (`{ "<server>": "<function name>" }`), on the steps that
 * reach MCP servers (StartRun, ToolStep, Verify): those servers are invoked there, never spawned.
 */
export const MCP_HOSTS_VARIABLE = 'LOOPRAIL_MCP_HOSTS';
export const McpHostsEnv = z.object({
  [MCP_HOSTS_VARIABLE]: z.optional(jsonVariable(McpHostNames, '{ "<server>": "<host function name>" }')),
});

/** What every function that builds the run dependencies reads (runtime.ts `lambdaDeps`). */
export const RuntimeEnv = z.extend(
  z.object({
    LOOPRAIL_TABLE_NAME: z.string().check(z.minLength(1)),
    LOOPRAIL_TRACE_TTL_DAYS: z.optional(z.coerce.number().check(z.int(), z.positive())),
    LOOPRAIL_SECRETS: z._default(z.enum(['aws', 'file']), 'aws'),
    LOOPRAIL_SECRETS_FILE: z.optional(z.string()),
    LOOPRAIL_STATE_DIR: z._default(z.string(), '/tmp/looprail'),
    LOOPRAIL_LOG_LEVEL: LogLevelVariable,
    /** `arn:aws:iam::<account>:role/<prefix>`: the agents' roles are this plus their identity. */
    LOOPRAIL_AGENT_ROLE_PREFIX: z.optional(
      z
        .string()
        .check(
          z.regex(
            /^arn:[^:]+:iam::\d{12}:role\/[\w+=,.@-]*$/,
            'expected arn:<partition>:iam::<account>:role/<name prefix>',
          ),
        ),
    ),
    /** Where `looprail.run.*` events go (`default` for the account's default bus); none when unset. */
    LOOPRAIL_EVENT_BUS: z.optional(z.string().check(z.minLength(1))),
    /** The sandbox broker function (set on ToolStep, Verify, FinishRun and FailRun when sandboxes are deployed). */
    [ENV_SANDBOX_BROKER]: z.optional(z.string().check(z.minLength(1))),
  }),
  McpHostsEnv.shape,
);

/**
 * What an MCP host function reads (functions/mcp/host.ts): the declaration it serves, as
 * bundled (its command the bundled server, its args pointing into the asset), where its
 * state folder lives, and how it reads the server's secrets. No run table: its own role.
 */
export const McpHostEnv = z.object({
  LOOPRAIL_MCP_SERVER: jsonVariable(HostedServer, 'a hosted MCP server (name, program, args, env, timeouts)'),
  /** Where `${LOOPRAIL_STATE_DIR}` files are kept between containers; none for a stateless server. */
  LOOPRAIL_MCP_STATE_BUCKET: z.optional(z.string().check(z.minLength(1))),
  LOOPRAIL_STATE_DIR: z._default(z.string(), '/tmp/looprail-mcp'),
  LOOPRAIL_SECRETS: RuntimeEnv.shape.LOOPRAIL_SECRETS,
  LOOPRAIL_SECRETS_FILE: RuntimeEnv.shape.LOOPRAIL_SECRETS_FILE,
  LOOPRAIL_LOG_LEVEL: LogLevelVariable,
});

/** What the functions that start runs add (runtime.ts `lambdaTriggerDeps`): the triggers and the HTTP app. */
export const TriggerEnv = z.object({
  /** The agent-run state machine every trigger starts executions of. */
  LOOPRAIL_STATE_MACHINE_ARN: z.string().check(z.minLength(1)),
});

/** What the approval flow adds (approvals.ts `withApprovalFlow`): the approval app, reminders, RequestApproval. */
export const ApprovalEnv = z.object({
  LOOPRAIL_APPROVAL_SIGNING_SECRET: z._default(z.string().check(z.minLength(1)), DEFAULT_SIGNING_SECRET),
  LOOPRAIL_PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'expected the HTTP API URL approval links point to' }),
  LOOPRAIL_APPROVERS: z._default(z.string(), ''),
  LOOPRAIL_MAIL_FROM: z.optional(z.string()),
});

/** Comma-separated ids, at least one. */
const IdList = z.pipe(
  z.pipe(
    z.string(),
    z.transform((value: string) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    ),
  ),
  z.array(z.string()).check(z.minLength(1, 'expected at least one id (comma-separated)')),
);

/**
 * What the sandbox broker reads (functions/sandbox/broker.ts): where and how it starts sandbox
 * tasks, the signing key's secret, the repository archives and the egress proxy. No run table
 * and no agent secrets, so it does not extend RuntimeEnv.
 */
export const SandboxBrokerEnv = z.object({
  [ENV_SANDBOX_CLUSTER]: z.string().check(z.minLength(1)),
  [ENV_SANDBOX_SUBNETS]: IdList,
  [ENV_SANDBOX_SECURITY_GROUPS]: IdList,
  [ENV_SANDBOX_TASK_FAMILY_PREFIX]: z._default(z.string(), ''),
  [ENV_SANDBOX_SIGNING_SECRET]: z._default(z.string().check(z.minLength(1)), DEFAULT_SANDBOX_SIGNING_SECRET),
  [ENV_SANDBOX_REPOS_BUCKET]: z.optional(z.string().check(z.minLength(1))),
  /** JSON `{ "<agent>": "<object key>" }`; none when unset. */
  [ENV_SANDBOX_REPOS]: z.pipe(
    z.optional(z.string()),
    z.transform((value: string | undefined, context) => {
      if (!value) return {};
      try {
        return z.record(z.string(), z.string().check(z.minLength(1))).parse(JSON.parse(value));
      } catch {
        context.issues.push({ code: 'custom', message: 'expected JSON { "<agent>": "<object key>" }', input: value });
        return z.NEVER;
      }
    }),
  ),
  [ENV_SANDBOX_EGRESS_PROXY]: z.optional(z.string().check(z.regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'expected host:port'))),
  LOOPRAIL_LOG_LEVEL: LogLevelVariable,
});

/**
 * What the sandbox sweeper reads (functions/sandbox/sweeper.ts): the cluster, the run table
 * (a run's status, not the run dependencies: it does not extend RuntimeEnv) and the tasks' lifetime.
 */
export const SandboxSweeperEnv = z.object({
  [ENV_SANDBOX_CLUSTER]: z.string().check(z.minLength(1)),
  LOOPRAIL_TABLE_NAME: RuntimeEnv.shape.LOOPRAIL_TABLE_NAME,
  /** The sandboxes' lifetime (what their containers are given); the sweeper's cap is a little past it. */
  [ENV_AGENT_MAX_SECONDS]: z._default(z.coerce.number().check(z.int(), z.positive()), DEFAULT_SANDBOX_MAX_SECONDS),
  LOOPRAIL_LOG_LEVEL: LogLevelVariable,
});

/**
 * What the skills publisher reads (functions/deploy/publish-skills.ts, a custom resource run
 * at deploy): the run table the registry lives in and the principal it publishes as.
 */
export const SkillsPublisherEnv = z.object({
  LOOPRAIL_TABLE_NAME: RuntimeEnv.shape.LOOPRAIL_TABLE_NAME,
  /** Recorded as each version's publisher and checked against skills.yaml owners: `cdk:<stack name>`. */
  LOOPRAIL_SKILLS_PUBLISHER: z.string().check(z.minLength(1)),
  LOOPRAIL_LOG_LEVEL: LogLevelVariable,
});

/** Each kind of function by the parsers it runs at start: its environment must satisfy all of them. */
export const FUNCTION_ENVIRONMENTS = {
  /** The loop's steps (and any function on lambdaDeps alone). */
  runtime: RuntimeEnv,
  trigger: z.extend(RuntimeEnv, TriggerEnv.shape),
  approval: z.extend(RuntimeEnv, ApprovalEnv.shape),
  sandboxBroker: SandboxBrokerEnv,
  sandboxSweeper: SandboxSweeperEnv,
  skillsPublisher: SkillsPublisherEnv,
  mcpHost: McpHostEnv,
} as const;
export type FunctionRole = keyof typeof FUNCTION_ENVIRONMENTS;

/** Environment values are strings; an enum keeps its literals, so a typo'd log level fails the build. */
type EnvValue<T> = T extends string ? T : string;

/** The variables a role's parser reads, as the stack writes them: required where the parser has no default. */
export type EnvironmentOf<Role extends FunctionRole> = EnvironmentFrom<z.input<(typeof FUNCTION_ENVIRONMENTS)[Role]>>;
type EnvironmentFrom<Input> = { [Name in keyof Input]: EnvValue<Input[Name]> };

/** What every looprail function's environment starts from: the stack's own settings. */
export interface BaseSettings {
  readonly tableName: string;
  /** Days a run's messages and trace events live. Default: 90. */
  readonly traceTtlDays?: number;
  /** Default: 'info'. */
  readonly logLevel?: LogLevel;
}

type BaseName = 'LOOPRAIL_TABLE_NAME' | 'LOOPRAIL_TRACE_TTL_DAYS' | 'LOOPRAIL_SECRETS' | 'LOOPRAIL_LOG_LEVEL';

/** The base variables every function gets, from the stack's settings (secrets from Secrets Manager). */
export function baseEnvironment(base: BaseSettings): Pick<EnvironmentOf<'runtime'>, BaseName> {
  return {
    LOOPRAIL_TABLE_NAME: base.tableName,
    LOOPRAIL_TRACE_TTL_DAYS: String(base.traceTtlDays ?? 90),
    LOOPRAIL_SECRETS: 'aws',
    LOOPRAIL_LOG_LEVEL: base.logLevel ?? 'info',
  };
}

declare const built: unique symbol;

/**
 * A function's whole environment as `functionEnvironment` or `ownEnvironment` build it: the
 * only kind HandlerFunction takes, so a hand-written record does not compile.
 */
export type FunctionEnvironment = Readonly<Record<string, string>> & { readonly [built]: true };

/** The roles whose parsers extend RuntimeEnv: their functions get the base variables. */
type RuntimeRole = { [Role in FunctionRole]: BaseName extends keyof EnvironmentOf<Role> ? Role : never }[FunctionRole];

/**
 * A function's whole environment: the base variables, plus what its role's parser requires
 * beyond them (the type makes those arguments required). Unset optional values are left out.
 */
export function functionEnvironment<Role extends RuntimeRole>(
  _role: Role,
  base: BaseSettings,
  values: Omit<EnvironmentOf<Role>, BaseName>,
): FunctionEnvironment {
  return definedOnly({ ...baseEnvironment(base), ...values }) as FunctionEnvironment;
}

/**
 * The environment of a function whose parser does not extend RuntimeEnv (the sandbox broker
 * and sweeper): exactly its role's variables, no base ones. Unset optional values are left out.
 */
export function ownEnvironment<Role extends FunctionRole>(
  _role: Role,
  values: EnvironmentOf<Role>,
): FunctionEnvironment {
  return definedOnly(values) as FunctionEnvironment;
}

/** Variables added to a function after it is built (by another construct), checked against its role's names. */
export function roleVariables<Role extends FunctionRole>(
  _role: Role,
  values: Partial<EnvironmentOf<Role>>,
): Record<string, string> {
  return definedOnly(values);
}

function definedOnly(values: Record<string, string | undefined>): Record<string, string> {
  const defined = Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return Object.fromEntries(defined);
}
