import { z } from 'zod';
import { DEFAULT_SIGNING_SECRET } from '../../core/approvals/deps.ts';
import { ENV_SANDBOX_BROKER } from '../../adapters/sandbox/aws-contract.ts';

/**
 * The environment contract between the stack and the Lambda functions, defined once: the
 * functions parse their environment with these schemas (runtime.ts, approvals.ts) and the
 * constructs build it with `functionEnvironment`, typed from the same schemas, so a
 * construct cannot leave out a variable its function's parser requires. Names and zod
 * only: infra imports this module, and must not pull runtime code into the synth.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What every function that builds the run dependencies reads (runtime.ts `lambdaDeps`). */
export const RuntimeEnv = z.object({
  LOOPRAIL_TABLE_NAME: z.string().min(1),
  LOOPRAIL_TRACE_TTL_DAYS: z.coerce.number().int().positive().optional(),
  LOOPRAIL_SECRETS: z.enum(['aws', 'file']).default('aws'),
  LOOPRAIL_SECRETS_FILE: z.string().optional(),
  LOOPRAIL_STATE_DIR: z.string().default('/tmp/looprail'),
  LOOPRAIL_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** `arn:aws:iam::<account>:role/<prefix>`: the agents' roles are this plus their identity. */
  LOOPRAIL_AGENT_ROLE_PREFIX: z
    .string()
    .regex(/^arn:[^:]+:iam::\d{12}:role\/[\w+=,.@-]*$/, 'expected arn:<partition>:iam::<account>:role/<name prefix>')
    .optional(),
  /** Where `looprail.run.*` events go (`default` for the account's default bus); none when unset. */
  LOOPRAIL_EVENT_BUS: z.string().min(1).optional(),
  /** The sandbox broker function (set on ToolStep, FinishRun and FailRun when sandboxes are deployed). */
  [ENV_SANDBOX_BROKER]: z.string().min(1).optional(),
});

/** What the functions that start runs add (runtime.ts `lambdaTriggerDeps`): the triggers and the HTTP app. */
export const TriggerEnv = z.object({
  /** The agent-run state machine every trigger starts executions of. */
  LOOPRAIL_STATE_MACHINE_ARN: z.string().min(1),
});

/** What the approval flow adds (approvals.ts `withApprovalFlow`): the approval app, reminders, RequestApproval. */
export const ApprovalEnv = z.object({
  LOOPRAIL_APPROVAL_SIGNING_SECRET: z.string().min(1).default(DEFAULT_SIGNING_SECRET),
  LOOPRAIL_PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'expected the HTTP API URL approval links point to' }),
  LOOPRAIL_APPROVERS: z.string().default(''),
  LOOPRAIL_MAIL_FROM: z.string().optional(),
});

/** Each kind of function by the parsers it runs at start: its environment must satisfy all of them. */
export const FUNCTION_ENVIRONMENTS = {
  /** The loop's steps (and any function on lambdaDeps alone). */
  runtime: RuntimeEnv,
  trigger: RuntimeEnv.extend(TriggerEnv.shape),
  approval: RuntimeEnv.extend(ApprovalEnv.shape),
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

/**
 * A function's whole environment: the base variables, plus what its role's parser requires
 * beyond them (the type makes those arguments required). Unset optional values are left out.
 */
export function functionEnvironment<Role extends FunctionRole>(
  _role: Role,
  base: BaseSettings,
  values: Omit<EnvironmentOf<Role>, BaseName>,
): Record<string, string> {
  return definedOnly({ ...baseEnvironment(base), ...values });
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
