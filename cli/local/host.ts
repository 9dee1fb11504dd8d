import { createHash } from 'node:crypto';
import { rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { formatProblem, loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { KnownSecrets, recordingSecrets } from '../../core/guardrails/known-secrets.ts';
import { withSecretRedaction } from '../../core/run/redacting-deps.ts';
import { projectRootOf } from '../../adapters/catalog/project-root.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { hasErrors, type Problem } from '../../core/definitions/problems.ts';
import type { RunMeta, TriggerInfo } from '../../core/definitions/run.ts';
import { ValidationError } from '../../core/errors.ts';
import type { RunStore, StepCommit } from '../../core/ports/run-store.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { silentLogger, type Logger } from '../../core/ports/logger.ts';
import { requestRun } from '../../core/run/request-run.ts';
import { stepHandlers } from '../../functions/_shared/handlers.ts';
import { createRunDeps } from '../../functions/_shared/run-deps.ts';
import { openLocalState } from './state.ts';
import { localPrincipal, publishOrgSkills } from './seed-skills.ts';
import { LocalExecutor, type ExecutionOutcome } from './executor.ts';
import { LocalExecutionStarter } from '../../adapters/executions/local.ts';
import { LocalEventLog } from '../../adapters/events/local-log.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import { OutboxMailer } from '../../adapters/mail/outbox.ts';
import { HttpWebhookPoster } from '../../adapters/webhooks/http-poster.ts';
import { LocalTaskSender } from '../../adapters/executions/local-tasks.ts';
import { DEFAULT_SIGNING_SECRET, type ApprovalDeps } from '../../core/approvals/deps.ts';
import { withLocalSigningKey } from './approval-key.ts';
import { otlpConfigFromEnv } from '../../adapters/otel/otlp-config.ts';
import { OtlpHttpExporter } from '../../adapters/otel/otlp-http.ts';
import type { RunTelemetry } from '../../core/ports/telemetry.ts';
import { BubblewrapSandboxes } from '../../adapters/sandbox/bubblewrap.ts';

/**
 * The embedded default: the same state machine, handlers and store code as on AWS, with
 * DynamoDB Local on disk under `.looprail/`, secrets from a local file, MCP servers
 * started beside the run, and the ASL run in-process.
 */

export interface LocalHostOptions {
  /** Where servers start from; default: the project that holds the org (adapters/catalog/project-root.ts). */
  projectRoot?: string;
  /** The org folder with the agent definitions. */
  orgDir?: string;
  /** Runtime state: DynamoDB Local's files, the secrets file, MCP servers' state. */
  stateDir?: string;
  /** Use a running DynamoDB (tests share one) instead of starting DynamoDB Local on disk. */
  dynamodbEndpoint?: string;
  tableName?: string;
  /** Called with each warning of the definitions; by default they are not shown. */
  onWarning?: (warning: Problem) => void;
  /** Called with every commit: the CLI streams the trace from here. */
  onCommit?: (runId: string, commit: StepCommit) => void;
  retryIntervalMs?: number;
  log?: Logger;
  /** Wraps what the steps use (tests inject crashes and failures here). */
  wrapDeps?: (deps: RunDeps) => RunDeps;
  /** Where finished runs go as OpenTelemetry traces; default: the OTLP endpoint in the environment (OTEL_EXPORTER_OTLP_*), if any. */
  telemetry?: RunTelemetry;
  /** Wraps the step handlers (tests inject crashes here). */
  wrapHandlers?: (handlers: ReturnType<typeof stepHandlers>) => ReturnType<typeof stepHandlers>;
  /** Where run sandboxes' workspaces live (default <tmpdir>/looprail-sandboxes/<hash of the state folder>: never inside the project or its state). */
  sandboxRoot?: string;
  /** Approval links point here until setPublicUrl is called (the dev server does once it listens). */
  publicUrl?: string;
  /** Org-wide approvers for approvals whose rules name none (default: LOOPRAIL_APPROVERS, comma-separated). */
  fallbackApprovers?: string[];
  /** Told when the local database has to be started (a progress line: it takes seconds); what it returns is called once it answers. */
  onStarting?: () => (() => void) | undefined;
}

export interface LocalHost {
  deps: RunDeps;
  /** The DynamoDB client under the store (the benchmark counts requests on it). */
  dynamodb: DynamoDBClient;
  tableName: string;
  executor: LocalExecutor;
  /** Starts runs' executions in the background (the API's ExecutionStarter); closing the host aborts what still runs. */
  executions: LocalExecutionStarter;
  /** The local secrets (the file under the state folder, then LOOPRAIL_SECRET_* variables). */
  secrets: SecretStore;
  /** Where `looprail.run.*` events are written locally (`<state dir>/events.jsonl`). */
  events: LocalEventLog;
  /** Outgoing mail (notifications, alerts): `.eml` files under `<state dir>/outbox/`, relayed to LOOPRAIL_SMTP_URL when set. */
  outbox: OutboxMailer;
  catalog: Catalog;
  /** Where approval mails' links point: the URL the HTTP app is served on. */
  setPublicUrl(url: string): void;
  /** Records the run and runs its execution to the end (or to a pause it cannot get past). */
  run(request: LocalRunRequest, signal?: AbortSignal): Promise<LocalRunResult>;
  close(): Promise<void>;
}

type StepHandlers = ReturnType<typeof stepHandlers>;

export interface LocalRunRequest {
  agent: string;
  input: unknown;
  principal?: string;
  trigger?: TriggerInfo;
  dedupeKey?: string;
}

export interface LocalRunResult {
  runId: string;
  created: boolean;
  meta: RunMeta;
  /** Absent when the dedupe key named a run that had already ended. */
  outcome?: ExecutionOutcome;
}

/** A store that tells a listener about every committed step. */
function observed(store: RunStore, onCommit: ((runId: string, commit: StepCommit) => void) | undefined): RunStore {
  if (!onCommit) return store;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'commit') return Reflect.get(target, property, receiver);
      return async (runId: string, commit: StepCommit) => {
        const outcome = await target.commit(runId, commit);
        if (outcome === 'committed') onCommit(runId, commit);
        return outcome;
      };
    },
  });
}

export async function loadCatalog(
  orgDir: string,
  options: { projectRoot?: string; onWarning?: (warning: Problem) => void } = {},
): Promise<Catalog> {
  const { catalog, problems } = await loadOrgFolder(orgDir, process.cwd(), { projectRoot: options.projectRoot });
  if (!catalog || hasErrors(problems)) {
    throw new ValidationError(
      `the definitions in ${orgDir} have problems (run \`looprail validate ${orgDir}\`):\n${problems
        .filter((p) => p.severity === 'error')
        .map(formatProblem)
        .join('\n')}`,
    );
  }
  for (const warning of problems.filter((p) => p.severity === 'warning')) options.onWarning?.(warning);
  return catalog;
}

export { LOCAL_TABLE, openLocalState } from './state.ts';

export async function startLocalHost(options: LocalHostOptions = {}): Promise<LocalHost> {
  // The state folder is where the user is (as `trace` and `runs` read it); servers start from the org's project.
  const here = resolve(options.projectRoot ?? process.cwd());
  const stateDir = resolve(here, options.stateDir ?? '.looprail');
  const orgDir = resolve(here, options.orgDir ?? 'agents');
  const projectRoot = options.projectRoot ? here : projectRootOf(orgDir);
  const catalog = await loadCatalog(orgDir, { projectRoot, onWarning: options.onWarning });
  const log = options.log ?? silentLogger;
  // Mail goes to a local outbox (and to a local SMTP relay when LOOPRAIL_SMTP_URL is set); webhooks are posted for real.
  // Built before DynamoDB Local starts, so a bad LOOPRAIL_SMTP_URL fails fast and leaves nothing running.
  const outbox = new OutboxMailer({
    dir: join(stateDir, 'outbox'),
    smtpUrl: process.env.LOOPRAIL_SMTP_URL || undefined,
    from: 'looprail@localhost',
    log: (line) => log.info(line),
  });
  // Before DynamoDB Local starts: a bad OTLP endpoint fails here, naming the variable.
  const otlp = options.telemetry ? undefined : otlpConfigFromEnv(process.env);
  const state = await openLocalState({
    stateDir,
    dynamodbEndpoint: options.dynamodbEndpoint,
    tableName: options.tableName,
    longLived: true,
    onStarting: options.onStarting,
  });
  const { client, tableName } = state;

  // Every value read (model keys, MCP env and headers, webhook and signing keys) is remembered for redaction.
  const knownSecrets = new KnownSecrets();
  const secrets = recordingSecrets(
    new LocalSecretStore({ file: join(stateDir, 'secrets.json'), env: process.env }),
    knownSecrets,
  );
  const events = new LocalEventLog({ stateDir });
  const base = createRunDeps({
    tableName,
    dynamodb: client,
    secrets,
    catalog: () => Promise.resolve(catalog),
    projectRoot,
    stateDir,
    log,
    knownSecrets,
  });
  if (base.skills)
    await publishOrgSkills({
      store: base.skills,
      orgDir,
      policy: catalog.skillsPolicy,
      principal: localPrincipal(),
      log,
    });
  const sandboxRoot = options.sandboxRoot ?? defaultSandboxRoot(stateDir);
  const sandboxes = await openLocalSandboxes(orgDir, sandboxRoot, state.store, log);
  const telemetry = options.telemetry ?? (otlp ? new OtlpHttpExporter(otlp, { secrets }) : undefined);
  let publicUrl = options.publicUrl ?? 'http://127.0.0.1:8787';
  const approvals = localApprovals(secrets, stateDir, () => publicUrl, options.fallbackApprovers);
  // A delegated sub-agent run is a nested execution of the same state machine (`executor` and
  // `wrappedHandlers` are set below, before any run); a failure no Catch handled is recorded as host.run does.
  const children = {
    async runToEnd(runId: string) {
      const outcome = await executor.run({ runId });
      const meta = await deps.store.getRun(runId);
      if (outcome.status === 'FAILED' && meta && meta.status !== 'finished' && meta.status !== 'failed') {
        await wrappedHandlers.FailRun({
          runId,
          error: { Error: outcome.error?.name ?? 'States.Runtime', Cause: outcome.error?.message },
        });
      }
    },
  };
  const observedDeps: RunDeps = {
    ...base,
    children,
    approvals,
    events,
    mailer: outbox,
    webhooks: new HttpWebhookPoster(),
    sandboxes,
    store: observed(base.store, options.onCommit),
    ...(telemetry ? { telemetry } : {}),
  };
  // Everything the host serves (steps, API, console, CLI) reads and writes through the redacted ports.
  const deps = withSecretRedaction(options.wrapDeps ? options.wrapDeps(observedDeps) : observedDeps);
  const handlers = stepHandlers(() => deps);
  const wrappedHandlers = options.wrapHandlers ? options.wrapHandlers(handlers) : handlers;
  const executor = localExecutor(wrappedHandlers, deps.store, options.retryIntervalMs);
  const executions = new LocalExecutionStarter({
    executor,
    failRun: wrappedHandlers.FailRun,
    getRun: (runId) => deps.store.getRun(runId),
    log: deps.log,
  });
  // A decision resolves the waiting execution here, or continues the run in a new one after a restart.
  approvals.tasks = new LocalTaskSender({ executor, resume: (runId, seq) => executions.resume(runId, seq) });

  return {
    deps,
    dynamodb: client,
    tableName,
    executor,
    executions,
    secrets,
    events,
    outbox,
    catalog,
    setPublicUrl(url) {
      publicUrl = url;
    },
    run: (request, signal) => runToEnd(deps, executor, handlers.FailRun, request, signal),
    async close() {
      await executions.close();
      await base.close();
      await state.close();
      // Only when empty: a run still open keeps its workspace for when a host resumes it.
      await rmdir(sandboxRoot).catch(() => undefined);
    },
  };
}

/** One folder per local state, so hosts of different projects (or tests) never meet over a run id. */
function defaultSandboxRoot(stateDir: string): string {
  return join(tmpdir(), 'looprail-sandboxes', createHash('sha256').update(stateDir).digest('hex').slice(0, 12));
}

async function openLocalSandboxes(
  orgDir: string,
  root: string,
  store: RunStore,
  log: Logger,
): Promise<BubblewrapSandboxes> {
  const sandboxes = new BubblewrapSandboxes({ orgDir, root });
  // Workspaces of runs that ended while no host was there to remove them.
  await sandboxes
    .sweep(async (runId) => ['finished', 'failed'].includes((await store.getRun(runId))?.status ?? ''))
    .catch((error: Error) => log.warn('could not sweep old sandboxes', { error: error.message }));
  return sandboxes;
}

/** Approvals: links signed with a key read by name (generated once under the state folder when unset). */
function localApprovals(
  secrets: SecretStore,
  stateDir: string,
  baseUrl: () => string,
  fallbackApprovers: string[] | undefined,
): ApprovalDeps {
  return {
    signingSecret: DEFAULT_SIGNING_SECRET,
    secrets: withLocalSigningKey(secrets, DEFAULT_SIGNING_SECRET, join(stateDir, 'approval-signing.key')),
    baseUrl,
    fallbackApprovers:
      fallbackApprovers ??
      (process.env.LOOPRAIL_APPROVERS ?? '')
        .split(',')
        .map((each) => each.trim())
        .filter(Boolean),
  };
}

function localExecutor(handlers: StepHandlers, store: RunStore, retryIntervalMs: number | undefined): LocalExecutor {
  return new LocalExecutor({
    handlers,
    retryIntervalMs,
    // A delegated child whose execution a restart cut short goes on from its last step.
    runProgress: async (runId) => {
      const meta = await store.getRun(runId);
      return meta && { seq: meta.seq, ended: meta.status === 'finished' || meta.status === 'failed' };
    },
  });
}

/** Records the run and runs its execution to the end (or to a pause it cannot get past). */
async function runToEnd(
  deps: RunDeps,
  executor: LocalExecutor,
  failRun: StepHandlers['FailRun'],
  request: LocalRunRequest,
  signal: AbortSignal | undefined,
): Promise<LocalRunResult> {
  const requested = await requestRun(deps, {
    agent: request.agent,
    input: request.input,
    principal: request.principal ?? 'local',
    trigger: request.trigger ?? { kind: 'cli' },
    dedupeKey: request.dedupeKey,
  });
  const { runId, created } = requested;
  if (requested.meta.status === 'finished' || requested.meta.status === 'failed')
    return { runId, created, meta: requested.meta };
  // A run that exists but has not ended (a host that died mid-run) resumes from its last committed step.
  const outcome = await executor.run(
    requested.meta.seq > 0 ? { runId, resumeSeq: requested.meta.seq } : { runId },
    signal,
  );
  let meta = (await deps.store.getRun(runId))!;
  if (outcome.status === 'FAILED' && meta.status !== 'finished' && meta.status !== 'failed') {
    // A failure no Catch can handle (States.Runtime): record it, as the deployed stack's
    // execution-status rule does, so no run is left without a stop reason.
    await failRun({ runId, error: { Error: outcome.error?.name ?? 'States.Runtime', Cause: outcome.error?.message } });
    meta = (await deps.store.getRun(runId))!;
  }
  return { runId, created, meta, outcome };
}
