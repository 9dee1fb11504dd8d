import { Duration, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { STEP_FUNCTION_NAMES, type StepFunctionName } from '../../core/definitions/steps.ts';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { otlpConfigFromEnv } from '../../adapters/otel/otlp-config.ts';
import { functionEnvironment, roleVariables } from '../../functions/_shared/env-contract.ts';
import type { LogLevel as FunctionLogLevel } from '../../functions/_shared/env-contract.ts';
import { AgentIdentities } from './agent-identities.ts';
import { secretArn } from './catalog-access.ts';
import { HandlerFunction, type HandlerBundling } from './handler-function.ts';
import type { RunTable } from './run-table.ts';

/** The loop's Lambda steps (core/definitions/steps.ts), under the names the stack's callers use. */
export const STEP_NAMES = STEP_FUNCTION_NAMES;
export type StepName = StepFunctionName;

export interface StepSettings {
  readonly memorySize: number;
  readonly timeout: Duration;
}

interface StepSpec extends StepSettings {
  readonly entry: string;
  readonly description: string;
}

/**
 * Entry, purpose and sizing of each step. A Lambda timeout never exceeds its ASL state's
 * TimeoutSeconds (120 for StartRun, 900 for the model/tool/verify steps, 60 to finish or
 * fail), so a slow handler fails as a Lambda timeout the state machine can retry.
 */
export const STEP_SPECS: Readonly<Record<StepName, StepSpec>> = {
  StartRun: {
    entry: 'functions/run/start-run.ts',
    description: 'Snapshots the definition, discovers tools, assembles the prompt',
    memorySize: 512,
    timeout: Duration.minutes(2),
  },
  ModelStep: {
    entry: 'functions/step/model-step.ts',
    description: "Checks the limits, calls the model, persists its turn and makes the turn's MCP calls",
    // It mostly waits on the model, and the wait bills memory × seconds. The bench measures
    // its bundle at init (bench/bundles.ts, about 80 MB resident, 15 MB of heap); 512 MB keeps
    // several times that for the largest conversation it holds, and bills half of 1024 MB's wait.
    memorySize: 512,
    timeout: Duration.minutes(15),
  },
  ToolStep: {
    entry: 'functions/step/tool-step.ts',
    description: "Runs the turn's granted tool calls and persists their results",
    memorySize: 1024,
    timeout: Duration.minutes(15),
  },
  RequestApproval: {
    entry: 'functions/approval/request-approval.ts',
    description: 'Stores the task token with the approval record and notifies the approvers',
    memorySize: 256,
    timeout: Duration.seconds(30),
  },
  Verify: {
    entry: 'functions/step/verify.ts',
    description: "Runs the checker on the maker's result",
    memorySize: 1024,
    timeout: Duration.minutes(15),
  },
  FinishRun: {
    entry: 'functions/run/finish-run.ts',
    description: 'Applies the stop reason and closes the run',
    memorySize: 256,
    timeout: Duration.minutes(1),
  },
  FailRun: {
    entry: 'functions/run/fail-run.ts',
    description: 'Records the error and the stop reason it implies',
    memorySize: 256,
    timeout: Duration.minutes(1),
  },
};

/** The functions' log levels a deployment may choose (the runtime also knows `silent`, for tests). */
export type LogLevel = Exclude<FunctionLogLevel, 'silent'>;

export interface LoopStepFunctionsProps {
  /** The validated catalog: decides the grants, and StartRun gets it inlined at bundle time. */
  readonly catalog: Catalog;
  readonly table: RunTable;
  /** Days a run's messages and trace events live before TTL removes them. Default: 90. */
  readonly traceTtlDays?: number;
  /** Default: 'info'. */
  readonly logLevel?: LogLevel;
  /** Default: ONE_MONTH (see HandlerFunction). */
  readonly logRetention?: RetentionDays;
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Memory or timeout per step, over STEP_SPECS. */
  readonly stepSettings?: Partial<Record<StepName, Partial<StepSettings>>>;
  /** Default: the repository root. */
  readonly projectRoot?: string;
  /** Export finished runs as OpenTelemetry traces (FinishRun and FailRun do it). Default: none. */
  readonly otlp?: OtlpExport;
}

export interface OtlpExport {
  /** The OTLP/HTTP traces URL, e.g. `https://collector.example/v1/traces`. */
  readonly endpoint: string;
  /** The Secrets Manager secret holding the collector's auth headers (`name=value,…`), by name. */
  readonly headersSecret?: string;
}

/** The functions' environment for an OTLP export, checked with the runtime's own parser so a bad value fails the synth. */
export function otlpEnvironment(otlp: OtlpExport): Record<string, string> {
  const environment: Record<string, string> = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlp.endpoint };
  if (otlp.headersSecret !== undefined) environment.LOOPRAIL_OTLP_HEADERS_SECRET_NAME = otlp.headersSecret;
  try {
    otlpConfigFromEnv(environment);
  } catch (error) {
    throw new Error(`otlp: ${(error as Error).message}`);
  }
  return environment;
}

/** The global StartRun reads the catalog from (a JSON string). */
export const CATALOG_GLOBAL = '__LOOPRAIL_CATALOG__';

/**
 * Linux caps a single command-line argument at 128 KiB (MAX_ARG_STRLEN), and esbuild gets
 * `--define:…` as one argument. Catalogs larger than this are handed over as an injected
 * module instead; the handler sees the same global either way.
 */
const MAX_DEFINE_BYTES = 96 * 1024;

/**
 * esbuild settings that give the bundle `__LOOPRAIL_CATALOG__` as the catalog's JSON text:
 * a `define` when it fits on a command line, else an `inject`ed module in the temp folder
 * (named by content hash, so repeated synths reuse one file).
 */
export function catalogBundling(catalog: Catalog, writeInjectFile = true): Pick<HandlerBundling, 'define' | 'inject'> {
  const literal = JSON.stringify(JSON.stringify(catalog));
  if (Buffer.byteLength(literal) <= MAX_DEFINE_BYTES) return { define: { [CATALOG_GLOBAL]: literal } };
  const hash = createHash('sha256').update(literal).digest('hex').slice(0, 16);
  const file = join(tmpdir(), `looprail-catalog-${hash}.mjs`);
  if (writeInjectFile && !existsSync(file)) writeFileSync(file, `export const ${CATALOG_GLOBAL} = ${literal};\n`);
  return { inject: [file] };
}

/**
 * One Lambda per step of the agent-run state machine, each with its own role holding only
 * what that step needs:
 * - every step: item read/write on the run table (each commits run state);
 * - StartRun, ModelStep, ToolStep, Verify: sts:AssumeRole on the agents' own roles, which
 *   alone hold the secrets and model access (StartRun discovers tools, Verify runs the
 *   checker); the steps themselves can read no secret and call no model;
 * - RequestApproval: the table only; resuming the execution belongs to the approval
 *   HTTP handler, not to this step.
 */
/** The steps that call models or tools for an agent. */
const AGENT_STEPS = ['StartRun', 'ModelStep', 'ToolStep', 'Verify'] as const;
/** The steps that close runs, and so export them to OpenTelemetry when that is configured. */
export const TRACE_EXPORT_STEPS = ['FinishRun', 'FailRun'] as const;

export class LoopStepFunctions extends Construct {
  readonly steps: Readonly<Record<StepName, HandlerFunction>>;
  readonly identities: AgentIdentities;

  constructor(scope: Construct, id: string, props: LoopStepFunctionsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const base = { tableName: props.table.tableName, traceTtlDays: props.traceTtlDays, logLevel: props.logLevel };
    const environment = functionEnvironment('runtime', base, {});

    const make = (name: StepName, bundling?: HandlerBundling): HandlerFunction => {
      const spec = STEP_SPECS[name];
      const settings = props.stepSettings?.[name];
      const handler = new HandlerFunction(this, name, {
        entry: spec.entry,
        description: spec.description,
        memorySize: settings?.memorySize ?? spec.memorySize,
        timeout: settings?.timeout ?? spec.timeout,
        environment,
        logRetention: props.logRetention,
        logRemovalPolicy: props.logRemovalPolicy,
        projectRoot: props.projectRoot,
        bundling,
      });
      props.table.grantReadWriteItems(handler);
      return handler;
    };

    this.steps = {
      // Only StartRun reads the catalog; the other steps read the run's snapshot.
      StartRun: make('StartRun', catalogBundling(props.catalog, stack.bundlingRequired)),
      ModelStep: make('ModelStep'),
      ToolStep: make('ToolStep'),
      RequestApproval: make('RequestApproval'),
      Verify: make('Verify'),
      FinishRun: make('FinishRun'),
      FailRun: make('FailRun'),
    };
    if (props.otlp) this.exportTraces(props.otlp);

    // Secrets and model access belong to the agents' own roles (agent-identities.ts): the
    // steps that act for an agent only assume its role, with the run id as the session name.
    this.identities = new AgentIdentities(this, 'Agents', {
      catalog: props.catalog,
      assumedBy: AGENT_STEPS.map((name) => this.steps[name].role),
    });
    const rolePrefix = roleVariables('runtime', { LOOPRAIL_AGENT_ROLE_PREFIX: this.identities.roleArnPrefix });
    for (const name of AGENT_STEPS) this.steps[name].addEnvironment(rolePrefix);
  }

  /**
   * The steps that close runs export them: the endpoint in their environment, and (when
   * the collector needs auth headers) read access to that one secret and nothing more.
   */
  private exportTraces(otlp: OtlpExport): void {
    const environment = otlpEnvironment(otlp);
    for (const name of TRACE_EXPORT_STEPS) {
      const step = this.steps[name];
      for (const [key, value] of Object.entries(environment)) step.function.addEnvironment(key, value);
      if (otlp.headersSecret !== undefined) {
        step.role.addToPrincipalPolicy(
          new PolicyStatement({
            actions: ['secretsmanager:GetSecretValue'],
            resources: [secretArn(Stack.of(this), otlp.headersSecret)],
          }),
        );
      }
    }
  }

  /** The functions in STEP_NAMES order. */
  get handlers(): HandlerFunction[] {
    return STEP_NAMES.map((name) => this.steps[name]);
  }
}
