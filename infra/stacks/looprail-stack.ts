import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { stepFunctionPlaceholder } from '../../core/definitions/steps.ts';
import { AgentStateMachine } from '../constructs/agent-state-machine.ts';
import { LooprailHttpApi } from '../constructs/http-api.ts';
import { LooprailApprovals } from '../constructs/approvals.ts';
import { McpHosts } from '../constructs/mcp-hosts.ts';
import { publishRuntimeEvents } from '../constructs/runtime-events.ts';
import { RunSweeper } from '../constructs/run-sweeper.ts';
import { SpendMonitoring } from '../constructs/spend-monitoring.ts';
import { RunTable } from '../constructs/run-table.ts';
import { pinsSkills, SkillsRegistry } from '../constructs/skills-registry.ts';
import { Sandboxes, sandboxAgents } from '../constructs/sandboxes/index.ts';
import { LoopStepFunctions, STEP_NAMES, type LogLevel, type OtlpExport } from '../constructs/step-functions.ts';
import { TriggerFunctions } from '../constructs/trigger-functions.ts';

export const DEFAULT_LOG_RETENTION_DAYS = 30;
export const DEFAULT_TRACE_TTL_DAYS = 90;

export interface LooprailStackProps extends StackProps {
  /** The validated org folder (infra/app.ts refuses to get here with errors). */
  readonly catalog: Catalog;
  /** One of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, 60, 90, …). Default: 30. */
  readonly logRetentionDays?: number;
  /** Days before a run's messages and trace events expire. Default: 90. */
  readonly traceTtlDays?: number;
  readonly logLevel?: LogLevel;
  /** Export finished runs as OpenTelemetry traces to this OTLP/HTTP endpoint. Default: none. */
  readonly otlp?: OtlpExport;
  /**
   * Bundle the handlers with esbuild. Default: true. False skips bundling for this stack
   * (for template tests); the stack then cannot be deployed.
   */
  readonly bundle?: boolean;
  /** The org folder the catalog was loaded from: sandbox `copy_in.repository.path` folders are packed from it. */
  readonly orgDir?: string;
}

/** One looprail deployment per account and Region: wiring only, the constructs hold the rules. */
export class LooprailStack extends Stack {
  readonly table: RunTable;
  readonly steps: LoopStepFunctions;
  readonly agentRun: AgentStateMachine;
  readonly sweeper: RunSweeper;
  readonly spend: SpendMonitoring;
  readonly triggers: TriggerFunctions;
  readonly httpApi: LooprailHttpApi;
  readonly approvals: LooprailApprovals;
  /** Run sandboxes (ECS Fargate), only when some agent declares `sandbox:`. */
  readonly sandboxes?: Sandboxes;
  /** The pinned skills, published to the registry at deploy, only when some agent pins one. */
  readonly skills?: SkillsRegistry;
  /** A Lambda per stdio MCP server some agent uses. */
  readonly mcpHosts: McpHosts;

  constructor(scope: Construct, id: string, props: LooprailStackProps) {
    super(scope, id, {
      description: 'looprail: governed runtime for unattended AI agent loops',
      ...props,
    });
    // Must precede every child: bundling reads this context when each function is created.
    if (props.bundle === false) this.node.setContext('aws:cdk:bundling-stacks', []);

    const logRetention = retentionDays(props.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS);
    const traceTtlDays = props.traceTtlDays ?? DEFAULT_TRACE_TTL_DAYS;
    if (!Number.isInteger(traceTtlDays) || traceTtlDays < 1) {
      throw new Error(`traceTtlDays: expected a whole number of days, 1 or more (got ${traceTtlDays})`);
    }

    this.table = new RunTable(this, 'RunTable');
    if (pinsSkills(props.catalog)) {
      if (!props.orgDir) throw new Error('agents pin skills: orgDir (the org folder to publish them from) is required');
      this.skills = new SkillsRegistry(this, 'SkillsRegistry', {
        catalog: props.catalog,
        orgDir: props.orgDir,
        table: this.table,
        logLevel: props.logLevel,
        logRetention,
      });
    }

    this.steps = new LoopStepFunctions(this, 'Steps', {
      catalog: props.catalog,
      table: this.table,
      traceTtlDays,
      logLevel: props.logLevel,
      logRetention,
      otlp: props.otlp,
    });

    // Stdio MCP servers run in host Lambdas, invoked by the steps that reach servers (discovery in StartRun and
    // Verify's checker start, calls in ToolStep) with the credentials of the agent that declares them.
    this.mcpHosts = new McpHosts(this, 'McpHosts', {
      catalog: props.catalog,
      agentRoles: this.steps.identities.roles,
      logLevel: props.logLevel,
      logRetention,
    });
    // ModelStep makes the turns it asked for (core/run/tool-turn.ts), so it reaches the servers too.
    const { steps } = this.steps;
    this.mcpHosts.connectSteps([steps.StartRun, steps.ModelStep, steps.ToolStep, steps.Verify]);

    this.agentRun = new AgentStateMachine(this, 'AgentRun', {
      functionArns: Object.fromEntries(
        STEP_NAMES.map((name) => [stepFunctionPlaceholder(name), this.steps.steps[name].functionArn]),
      ),
      logRetention,
    });

    // Sandboxes exist only for a catalog that has some: a VPC and its endpoints cost money every hour.
    if (sandboxAgents(props.catalog).length > 0) {
      this.sandboxes = new Sandboxes(this, 'Sandboxes', {
        catalog: props.catalog,
        table: this.table,
        orgDir: props.orgDir,
        logLevel: props.logLevel,
        logRetention,
      });
      // ToolStep opens and uses a run's sandbox, Verify runs verify.checks in it; FinishRun and FailRun tear it down.
      this.sandboxes.connectSteps([
        this.steps.steps.ToolStep,
        this.steps.steps.Verify,
        this.steps.steps.FinishRun,
        this.steps.steps.FailRun,
      ]);
    }

    this.sweeper = new RunSweeper(this, 'Sweeper', {
      stateMachine: this.agentRun.stateMachine,
      failRun: this.steps.steps.FailRun.function,
    });

    this.spend = new SpendMonitoring(this, 'Spend', { catalog: props.catalog });

    const runtime = {
      catalog: props.catalog,
      table: this.table,
      stateMachine: this.agentRun.stateMachine,
      traceTtlDays,
      logLevel: props.logLevel,
      logRetention,
    };
    this.triggers = new TriggerFunctions(this, 'Triggers', runtime);
    this.httpApi = new LooprailHttpApi(this, 'Http', runtime);
    // Human approvals: the signed-link pages and the one function that may resume executions; the SES sender from context.
    this.approvals = new LooprailApprovals(this, 'Approvals', {
      api: this.httpApi.api,
      publicUrl: this.httpApi.url,
      table: this.table,
      stateMachine: this.agentRun.stateMachine,
      requestApproval: this.steps.steps.RequestApproval,
      mailingSteps: [this.steps.steps.FailRun, this.steps.steps.FinishRun, this.steps.steps.ModelStep],
      sender: this.node.tryGetContext('approvalSender') as string | undefined,
      fallbackApprovers: String(this.node.tryGetContext('approvalFallbackApprovers') ?? '')
        .split(',')
        .map((each) => each.trim())
        .filter(Boolean),
      traceTtlDays,
      logLevel: props.logLevel,
      logRetention,
    });

    // Runtime events go to the account's default bus, from the functions that emit them:
    // started (StartRun), budget thresholds (ModelStep), paused (RequestApproval), finished
    // (FinishRun, FailRun, and the API when it cancels a queued run). The triggers only record
    // and start runs, so they publish nothing and get no grant.
    const { StartRun, ModelStep, RequestApproval, FinishRun, FailRun } = this.steps.steps;
    publishRuntimeEvents(this, [StartRun, ModelStep, RequestApproval, FinishRun, FailRun, this.httpApi.handler]);

    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'AgentRunStateMachineArn', { value: this.agentRun.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ApiUrl', { value: this.httpApi.url });
  }
}

/** CloudWatch Logs accepts only certain retention periods; say which when given another. */
export function retentionDays(days: number): RetentionDays {
  const allowed = Object.values(RetentionDays).filter(
    (value): value is RetentionDays => typeof value === 'number' && value !== RetentionDays.INFINITE,
  );
  if (!allowed.includes(days as RetentionDays)) {
    throw new Error(`logRetentionDays: expected one of ${allowed.join(', ')} (got ${days})`);
  }
  return days as RetentionDays;
}
