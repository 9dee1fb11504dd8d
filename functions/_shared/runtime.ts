import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import { DynamoResultStore } from '../../adapters/dynamodb/result-store.ts';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { LambdaMcpHosts } from '../../adapters/mcp/host-client.ts';
import type { McpHostNames } from '../../adapters/mcp/host-protocol.ts';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { modelProviders } from '../../adapters/models/index.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { systemClock } from '../../core/ports/clock.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { AgentScope, RunDeps } from '../../core/run/deps.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { agentRoleName } from '../../core/definitions/identity.ts';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { randomIds } from '../../core/run/ids.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { emfMetrics } from '../../adapters/metrics/emf.ts';
import { OtlpHttpExporter, otlpConfigFromEnv } from '../../adapters/otel/otlp-http.ts';
import { HttpWebhookPoster } from '../../adapters/webhooks/http-poster.ts';
import { EventBridgePublisher } from '../../adapters/events/eventbridge.ts';
import { StepFunctionsExecutionStarter } from '../../adapters/executions/step-functions.ts';
import type { TriggerDeps } from '../../core/run/trigger.ts';
import { guardrailRules } from '../../guardrails/rules.ts';
import { RemoteSandboxes } from '../../adapters/sandbox/remote.ts';
import { ENV_SANDBOX_BROKER } from '../../adapters/sandbox/aws-contract.ts';
import { RuntimeEnv, TriggerEnv } from './env-contract.ts';
import { KnownSecrets, recordingSecrets } from '../../core/guardrails/known-secrets.ts';
import { withSecretRedaction } from '../../core/run/redacting-deps.ts';

/**
 * The composition root: the one place that picks adapters. Lambda builds it from its
 * environment (parsed once, with zod); the local host passes the same options directly.
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
}

export function createRunDeps(options: RuntimeOptions): RunDeps & { close(): Promise<void> } {
  // Every value read is remembered, so the one redactor knows each secret (core/run/redacting-deps.ts).
  const knownSecrets = options.knownSecrets ?? new KnownSecrets();
  const secrets = recordingSecrets(options.secrets, knownSecrets);
  const tools = new McpToolGateway({
    secrets,
    projectRoot: options.projectRoot,
    stateDir: options.stateDir,
    ...(options.mcpHosts ? { hosts: new LambdaMcpHosts(options.mcpHosts, lazyLambdaClient()) } : {}),
  });
  return {
    store: new DynamoRunStore({
      client: options.dynamodb,
      tableName: options.tableName,
      traceTtlSeconds: options.traceTtlSeconds,
    }),
    skills: new DynamoSkillStore({ client: options.dynamodb, tableName: options.tableName }),
    results: new DynamoResultStore({
      client: options.dynamodb,
      tableName: options.tableName,
      ttlSeconds: options.traceTtlSeconds,
    }),
    providers: modelProviders({ secrets }),
    tools,
    clock: systemClock,
    ids: randomIds,
    catalog: options.catalog,
    log: options.log,
    guardrailRules,
    knownSecrets,
    close: () => tools.close(),
  };
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

/** The contract's runtime variables, plus where Lambda put the code (set by the platform, not the stack). */
const LambdaEnv = RuntimeEnv.extend({ LAMBDA_TASK_ROOT: z.string().default(process.cwd()) });

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
export function lambdaDeps(): RunDeps {
  if (lambdaDepsCache) return lambdaDepsCache;
  const env = lambdaEnv();
  const base = createRunDeps({
    tableName: env.LOOPRAIL_TABLE_NAME,
    dynamodb: new DynamoDBClient({}),
    secrets: lambdaSecrets(),
    catalog: bundledCatalog,
    projectRoot: env.LAMBDA_TASK_ROOT,
    stateDir: env.LOOPRAIL_STATE_DIR,
    traceTtlSeconds: env.LOOPRAIL_TRACE_TTL_DAYS ? env.LOOPRAIL_TRACE_TTL_DAYS * 86_400 : undefined,
    log: jsonLogger(env.LOOPRAIL_LOG_LEVEL),
    mcpHosts: env.LOOPRAIL_MCP_HOSTS,
    knownSecrets: lambdaKnownSecrets,
  });
  // Checked at init: a bad OTLP setting fails the container's start with the variable's name.
  const otlp = otlpConfigFromEnv(process.env);
  const withMetrics: RunDeps = {
    ...base,
    ...(otlp ? { telemetry: new OtlpHttpExporter(otlp, { secrets: lambdaSecrets() }) } : {}),
    metrics: emfMetrics(),
    // Alerts and notifications that name a webhook; email from Lambda comes with the approval flow's SES mailer.
    webhooks: new HttpWebhookPoster(),
    ...(env.LOOPRAIL_EVENT_BUS ? { events: new EventBridgePublisher({ eventBusName: env.LOOPRAIL_EVENT_BUS }) } : {}),
    // Sandboxes run in their own VPC: every sandbox call is an Invoke of the broker there.
    ...(env[ENV_SANDBOX_BROKER] ? { sandboxes: new RemoteSandboxes({ functionName: env[ENV_SANDBOX_BROKER] }) } : {}),
  };
  lambdaDepsCache = env.LOOPRAIL_AGENT_ROLE_PREFIX
    ? {
        ...withMetrics,
        scopeFor: agentScopes({
          roleArnPrefix: env.LOOPRAIL_AGENT_ROLE_PREFIX,
          projectRoot: env.LAMBDA_TASK_ROOT,
          stateDir: env.LOOPRAIL_STATE_DIR,
          mcpHosts: env.LOOPRAIL_MCP_HOSTS,
          knownSecrets: lambdaKnownSecrets,
        }),
      }
    : withMetrics;
  return lambdaDepsCache;
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
