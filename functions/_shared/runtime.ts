import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { DynamoMemoryStore } from '../../adapters/dynamodb/memory-store.ts';
import { DynamoResultStore } from '../../adapters/dynamodb/result-store.ts';
import type { McpHostNames } from '../../adapters/mcp/host-protocol.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { systemClock } from '../../core/ports/clock.ts';
import type { ModelProvider, ModelProviders } from '../../core/ports/models.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import type { SandboxProvider } from '../../core/ports/sandbox.ts';
import type { RunTelemetry } from '../../core/ports/telemetry.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { randomIds } from '../../core/run/ids.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { emfMetrics } from '../../adapters/metrics/emf.ts';
import { HttpWebhookPoster } from '../../adapters/webhooks/http-poster.ts';
import { EventBridgePublisher } from '../../adapters/events/eventbridge.ts';
import { StepFunctionsExecutionStarter } from '../../adapters/executions/step-functions.ts';
import type { TriggerDeps } from '../../core/run/trigger.ts';
import { guardrailRules } from '../../guardrails/rules.ts';
import { ENV_SANDBOX_BROKER } from '../../adapters/sandbox/aws-contract.ts';
import { RuntimeEnv, TriggerEnv } from './env-contract.ts';
import { KnownSecrets, recordingSecrets } from '../../core/guardrails/known-secrets.ts';
import { withSecretRedaction } from '../../core/run/redacting-deps.ts';
import * as z from '../../core/definitions/zod.ts';

/**
 * The composition root on Lambda: the one place that picks adapters, from the function's
 * environment (parsed once, with zod). Each entry passes the clients of its role: the
 * loop's steps that call tools and models pass AGENT_CLIENTS (agent-clients.ts); the
 * others import nothing of them, which keeps their bundles small. The local host
 * composes everything with createRunDeps (run-deps.ts) over the same baseRunDeps.
 */

export interface RuntimeOptions {
  tableName: string;
  dynamodb: DynamoDBClient;
  secrets: SecretStore;
  catalog: () => Promise<Catalog>;
  /** Where stdio MCP servers start and find their node_modules/.bin. */
  projectRoot: string;
  /** Runtime-owned state (`${LOOPRAIL_STATE_DIR}` in server declarations). */
  stateDir: string;
  traceTtlSeconds?: number;
  log: Logger;
  /** On AWS: the MCP host function of each hosted server (LOOPRAIL_MCP_HOSTS), invoked instead of spawning it. */
  mcpHosts?: McpHostNames;
  /** Where every secret value read is remembered, for redaction; one is made when absent. */
  knownSecrets?: KnownSecrets;
  /** The skills registry, for the functions that mount or load skills (skill-registry.ts `SKILL_REGISTRY`). */
  skills?: SkillRegistry;
}

/** How a function reaches the skills registry on the run table (skill-registry.ts): StartRun, ToolStep, the local host. */
export type SkillRegistry = (table: { client: DynamoDBClient; tableName: string }) => SkillStore;

/** Everything but the clients that act for an agent (tools, providers): the stores, clock, ids, catalog, log, rules. */
export function baseRunDeps(
  options: Omit<RuntimeOptions, 'secrets' | 'projectRoot' | 'stateDir' | 'mcpHosts'> & { knownSecrets: KnownSecrets },
): Omit<RunDeps, 'tools' | 'providers'> {
  return {
    store: new DynamoRunStore({
      client: options.dynamodb,
      tableName: options.tableName,
      traceTtlSeconds: options.traceTtlSeconds,
    }),
    ...(options.skills ? { skills: options.skills({ client: options.dynamodb, tableName: options.tableName }) } : {}),
    memory: new DynamoMemoryStore({ client: options.dynamodb, tableName: options.tableName }),
    results: new DynamoResultStore({
      client: options.dynamodb,
      tableName: options.tableName,
      ttlSeconds: options.traceTtlSeconds,
    }),
    clock: systemClock,
    ids: randomIds,
    catalog: options.catalog,
    log: options.log,
    guardrailRules,
    knownSecrets: options.knownSecrets,
  };
}

/** The clients an entry that acts for agents hands to lambdaDeps (agent-clients.ts `AGENT_CLIENTS`). */
export interface AgentClients {
  /** The function's own tools and providers, reading secrets with its own role. */
  own(options: {
    secrets: SecretStore;
    projectRoot: string;
    stateDir: string;
    mcpHosts?: McpHostNames;
  }): Pick<RunDeps, 'tools' | 'providers'>;
  /** Per run, clients acting as the agent's own IAM role (LOOPRAIL_AGENT_ROLE_PREFIX). */
  scopes(options: {
    roleArnPrefix: string;
    projectRoot: string;
    stateDir: string;
    mcpHosts?: McpHostNames;
    knownSecrets?: KnownSecrets;
  }): NonNullable<RunDeps['scopeFor']>;
}

/** How a function reaches the sandbox broker (sandbox-client.ts `SANDBOX_CLIENT`): ToolStep, Verify, FinishRun, FailRun. */
export type SandboxClient = (brokerFunctionName: string) => SandboxProvider;

/** How a function exports finished runs (telemetry-export.ts `OTLP_EXPORT`): FinishRun, FailRun. */
export type TelemetryExport = (
  env: Record<string, string | undefined>,
  secrets: () => SecretStore,
) => RunTelemetry | undefined;

/** The clients of a function's role, beyond the stores every function gets. */
export interface LambdaRole {
  /** The steps that call tools and models: AGENT_CLIENTS (agent-clients.ts). */
  agents?: AgentClients;
  /** The steps that use or destroy run sandboxes: SANDBOX_CLIENT (sandbox-client.ts). */
  sandboxes?: SandboxClient;
  /** The steps that close runs, which the stack gives the OTLP settings: OTLP_EXPORT (telemetry-export.ts). */
  telemetry?: TelemetryExport;
  /** The steps that mount skills (StartRun) or load them (ToolStep): SKILL_REGISTRY (skill-registry.ts). */
  skills?: SkillRegistry;
}

/**
 * The tools and providers of a function that never acts for an agent (the triggers, the
 * HTTP and approval apps, RequestApproval, FinishRun, FailRun): reaching one is a wiring
 * mistake, refused with what to change rather than a missing method.
 */
function withoutAgentClients(): Pick<RunDeps, 'tools' | 'providers'> {
  const refused = (what: string) =>
    Promise.reject(
      new ConfigurationError(
        `this function was composed without the agents' ${what}; only the loop's steps that act for agents (StartRun, ModelStep, ToolStep, Verify) pass AGENT_CLIENTS to lambdaDeps`,
      ),
    );
  const provider = <Name extends keyof ModelProviders>(name: Name): ModelProvider<Name> => ({
    name,
    complete: () => refused('model providers'),
  });
  const tools: ToolGateway = {
    listTools: () => refused('MCP tools'),
    callTool: () => refused('MCP tools'),
    close: () => Promise.resolve(),
  };
  return {
    tools,
    providers: {
      bedrock: provider('bedrock'),
      anthropic: provider('anthropic'),
      openai: provider('openai'),
      scripted: provider('scripted'),
    },
  };
}

/** The contract's runtime variables, plus where Lambda put the code (set by the platform, not the stack). */
const LambdaEnv = z.extend(RuntimeEnv, { LAMBDA_TASK_ROOT: z._default(z.string(), process.cwd()) });

// Inlined by esbuild into the StartRun bundle (infra/constructs/step-functions.ts): the validated catalog.
declare const __LOOPRAIL_CATALOG__: string | undefined;

function bundledCatalog(): Promise<Catalog> {
  if (typeof __LOOPRAIL_CATALOG__ === 'undefined') {
    return Promise.reject(
      new ConfigurationError('this function was bundled without the agent catalog; only StartRun reads it'),
    );
  }
  return Promise.resolve(JSON.parse(__LOOPRAIL_CATALOG__) as Catalog);
}

let lambdaDepsCache: RunDeps | undefined;
let lambdaEnvCache: z.infer<typeof LambdaEnv> | undefined;
let lambdaSecretsCache: SecretStore | undefined;
/** Every secret value this container has read, whichever client read it. */
const lambdaKnownSecrets = new KnownSecrets();

function lambdaEnv(): z.infer<typeof LambdaEnv> {
  lambdaEnvCache ??= LambdaEnv.parse(process.env);
  return lambdaEnvCache;
}

/** The function's own secret store (its role's grants), built once per container. */
function lambdaSecrets(): SecretStore {
  const env = lambdaEnv();
  lambdaSecretsCache ??= recordingSecrets(
    env.LOOPRAIL_SECRETS === 'aws'
      ? new SecretsManagerStore({})
      : new LocalSecretStore({ file: env.LOOPRAIL_SECRETS_FILE, env: process.env }),
    lambdaKnownSecrets,
  );
  return lambdaSecretsCache;
}

/** Built once per Lambda container; clients and MCP connections are reused across invocations. */
export function lambdaDeps(role: LambdaRole = {}): RunDeps {
  if (lambdaDepsCache) return lambdaDepsCache;
  const env = lambdaEnv();
  const own = { projectRoot: env.LAMBDA_TASK_ROOT, stateDir: env.LOOPRAIL_STATE_DIR, mcpHosts: env.LOOPRAIL_MCP_HOSTS };
  const base: RunDeps = {
    ...baseRunDeps({
      tableName: env.LOOPRAIL_TABLE_NAME,
      dynamodb: new DynamoDBClient({}),
      catalog: bundledCatalog,
      traceTtlSeconds: env.LOOPRAIL_TRACE_TTL_DAYS ? env.LOOPRAIL_TRACE_TTL_DAYS * 86_400 : undefined,
      log: jsonLogger(env.LOOPRAIL_LOG_LEVEL),
      knownSecrets: lambdaKnownSecrets,
      skills: role.skills,
    }),
    ...(role.agents ? role.agents.own({ secrets: lambdaSecrets(), ...own }) : withoutAgentClients()),
  };
  const telemetry = role.telemetry?.(process.env, lambdaSecrets);
  const withMetrics: RunDeps = {
    ...base,
    ...(telemetry ? { telemetry } : {}),
    metrics: emfMetrics(),
    // Alerts and notifications that name a webhook; email from Lambda comes with the approval flow's SES mailer.
    webhooks: new HttpWebhookPoster(),
    ...(env.LOOPRAIL_EVENT_BUS ? { events: new EventBridgePublisher({ eventBusName: env.LOOPRAIL_EVENT_BUS }) } : {}),
    // Sandboxes run in their own VPC: every sandbox call is an Invoke of the broker there.
    ...(env[ENV_SANDBOX_BROKER] ? { sandboxes: sandboxClient(role)(env[ENV_SANDBOX_BROKER]) } : {}),
  };
  lambdaDepsCache =
    role.agents && env.LOOPRAIL_AGENT_ROLE_PREFIX
      ? {
          ...withMetrics,
          scopeFor: role.agents.scopes({
            roleArnPrefix: env.LOOPRAIL_AGENT_ROLE_PREFIX,
            ...own,
            knownSecrets: lambdaKnownSecrets,
          }),
        }
      : withMetrics;
  return lambdaDepsCache;
}

/** The role's sandbox client; the stack gives the broker's name only to functions composed with one. */
function sandboxClient(role: LambdaRole): SandboxClient {
  if (role.sandboxes) return role.sandboxes;
  throw new ConfigurationError(
    `${ENV_SANDBOX_BROKER} is set, but this function was composed without the sandbox client; the steps that use sandboxes (ToolStep, Verify, FinishRun, FailRun) pass SANDBOX_CLIENT to lambdaDeps`,
  );
}

let lambdaTriggerDepsCache: (TriggerDeps & { secrets: SecretStore }) | undefined;

/**
 * What the functions that start runs need (the schedule and event triggers, the HTTP app):
 * lambdaDeps() plus the Step Functions ExecutionStarter, and the function's own secret
 * store (the HTTP app reads webhook signing secrets with it). Built once per container.
 */
export function lambdaTriggerDeps(): TriggerDeps & { secrets: SecretStore } {
  if (lambdaTriggerDepsCache) return lambdaTriggerDepsCache;
  const env = TriggerEnv.parse(process.env);
  // Redacted like the steps' deps: the API and console answer with what the store reads.
  lambdaTriggerDepsCache = withSecretRedaction({
    ...lambdaDeps(),
    executions: new StepFunctionsExecutionStarter({ stateMachineArn: env.LOOPRAIL_STATE_MACHINE_ARN }),
    secrets: lambdaSecrets(),
  });
  return lambdaTriggerDepsCache;
}
