import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { stackPrefix } from '../stack-names.ts';
import {
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
} from '../../../adapters/sandbox/aws-contract.ts';
import type { Catalog } from '../../../core/definitions/catalog.ts';
import { ownEnvironment, roleVariables } from '../../../functions/_shared/env-contract.ts';
import { acknowledgeWildcardResource } from '../../nag/acknowledge.ts';
import { HandlerFunction } from '../handler-function.ts';
import type { RunTable } from '../run-table.ts';
import type { LogLevel } from '../step-functions.ts';
import { egressAllowlists, sandboxAgents } from './catalog.ts';
import { EgressProxy } from './egress-proxy.ts';
import { DEFAULT_SANDBOX_IDLE_SECONDS, DEFAULT_SANDBOX_MAX_SECONDS } from './names.ts';
import { SandboxNetwork } from './network.ts';
import { SandboxRepositories } from './repositories.ts';
import { SandboxTasks } from './tasks.ts';

export interface SandboxesProps {
  readonly catalog: Catalog;
  readonly table: RunTable;
  /** The org folder: `copy_in.repository.path` is relative to it. */
  readonly orgDir?: string;
  readonly logLevel?: LogLevel;
  /** Default: ONE_MONTH. */
  readonly logRetention?: RetentionDays;
  /** Default: RETAIN. */
  readonly logRemovalPolicy?: RemovalPolicy;
  readonly projectRoot?: string;
  /** A sandbox agent with no request for this long exits (its task stops). Default: 3600. */
  readonly idleSeconds?: number;
  /** A sandbox task lives at most this long, busy or not. Default: 86400. */
  readonly maxSeconds?: number;
}

/** What the broker and the sweeper share: where they log, and from which project they are bundled. */
interface FunctionDefaults {
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  readonly projectRoot?: string;
}

/**
 * Run sandboxes on AWS: one ECS Fargate task per run that asked for one, in a VPC of its
 * own with no route out. What each part may do:
 *
 * - sandbox tasks: no task role (no AWS credentials at all), an execution role that pulls
 *   their images and writes their log group and nothing else; their security group takes
 *   connections from the broker only, and lets out only HTTPS to the VPC endpoints (image
 *   pulls, logs) and, for an allowlist, the egress proxy's port;
 * - the broker (a Lambda in the VPC): the only thing that reaches a sandbox, and the only
 *   one that starts, finds and stops them; it reads the signing key and the org's
 *   repository archives, and nothing of the run table or the agents' secrets;
 * - the steps that use sandboxes (ToolStep, Verify, FinishRun, FailRun) may only invoke the broker;
 * - the sweeper stops the tasks of runs that ended without FinishRun/FailRun reaching them;
 * - the egress proxy (only with some network allowlist) is the one way out, and lets each
 *   sandbox reach its own agent's hosts only.
 *
 * The stack creates it only when at least one agent of the catalog declares `sandbox:`;
 * then `connectSteps` lets the steps that open and close sandboxes invoke the broker.
 */
export class Sandboxes extends Construct {
  readonly network: SandboxNetwork;
  readonly tasks: SandboxTasks;
  readonly repositories: SandboxRepositories;
  readonly signingSecret: Secret;
  readonly broker: HandlerFunction;
  readonly sweeper: HandlerFunction;
  readonly sweepRule: Rule;
  readonly proxy?: EgressProxy;
  readonly familyPrefix: string;

  constructor(scope: Construct, id: string, props: SandboxesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const agents = sandboxAgents(props.catalog);
    if (agents.length === 0) throw new Error('Sandboxes: no agent in the catalog declares sandbox:');
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    const bundle = stack.bundlingRequired;
    const allowlists = egressAllowlists(props.catalog);
    const withProxy = Object.keys(allowlists).length > 0;
    this.familyPrefix = `${stackPrefix(this, 64, { normalize: (name) => name.replace(/[^A-Za-z0-9-]/g, '') })}-sandbox-`;
    // ECR's cache prefix: 2–30 characters, lower case, unique per registry (one per stack).
    const cachePrefix = `${stackPrefix(this, 19, { normalize: (name) => name.toLowerCase().replace(/[^a-z0-9]+/g, '-') })}-ecr-public`;

    const proxyHosts = Object.values(allowlists).flat();
    this.network = new SandboxNetwork(this, 'Network', { withProxy, proxyHosts, logRetention, logRemovalPolicy });
    this.signingSecret = this.createSigningSecret();
    this.tasks = new SandboxTasks(this, 'Tasks', {
      catalog: props.catalog,
      network: this.network,
      familyPrefix: this.familyPrefix,
      cachePrefix,
      bundle,
      projectRoot: props.projectRoot,
      idleSeconds: props.idleSeconds ?? DEFAULT_SANDBOX_IDLE_SECONDS,
      maxSeconds: props.maxSeconds ?? DEFAULT_SANDBOX_MAX_SECONDS,
      logRetention,
      logRemovalPolicy,
    });
    this.repositories = new SandboxRepositories(this, 'Repositories', { catalog: props.catalog, orgDir: props.orgDir });
    this.network.allowS3Objects(this.repositories.objectArns);

    if (withProxy) {
      this.proxy = new EgressProxy(this, 'EgressProxy', {
        cluster: this.tasks.cluster,
        network: this.network,
        allowlists,
        signingSecret: this.signingSecret,
        bundle,
        projectRoot: props.projectRoot,
        logRetention,
        logRemovalPolicy,
      });
    }

    const defaults: FunctionDefaults = { logRetention, logRemovalPolicy, projectRoot: props.projectRoot };
    this.broker = this.createBroker(props, defaults);
    this.grantBroker(stack);
    this.sweeper = this.createSweeper(props, defaults, stack);
    this.sweepRule = new Rule(this, 'Sweep', {
      description: 'looprail: stop sandboxes whose run has ended',
      schedule: Schedule.rate(Duration.minutes(5)),
      targets: [new LambdaFunction(this.sweeper.function, { retryAttempts: 0 })],
    });
  }

  /** Lets these steps (ToolStep, Verify, FinishRun, FailRun) invoke the broker, and tells them its name. */
  connectSteps(steps: HandlerFunction[]): void {
    for (const step of steps) {
      // The function itself (no version or alias: the steps call it by name).
      step.role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.broker.function.functionArn] }),
      );
      step.addEnvironment(roleVariables('runtime', { [ENV_SANDBOX_BROKER]: this.broker.function.functionName }));
    }
  }

  /** The agents' task definition families (any revision). */
  get taskDefinitionArns(): string[] {
    const stack = Stack.of(this);
    return [...this.tasks.taskDefinitions.keys()].map((agent) =>
      stack.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${this.familyPrefix}${agent}:*` }),
    );
  }

  /** The key the agent and egress tokens derive from: the broker and the proxy read it, nothing else. */
  private createSigningSecret(): Secret {
    const secret = new Secret(this, 'SigningKey', {
      description: 'looprail: key the sandbox agent and egress tokens are derived from',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Every running sandbox holds a token digest derived from this key: rotating it would cut the broker off ' +
        'from them mid-run. Rotate by replacing the secret when no sandbox runs.',
    });
    return secret;
  }

  private createBroker(props: SandboxesProps, defaults: FunctionDefaults): HandlerFunction {
    const network = this.network;
    return new HandlerFunction(this, 'Broker', {
      entry: 'functions/sandbox/broker.ts',
      description: 'Starts, reaches and stops run sandboxes (ECS tasks): the only thing that can reach them',
      memorySize: 512,
      // A command may run 840 s (sandbox.command_timeout_seconds), plus the agent's answer.
      timeout: Duration.minutes(15),
      environment: ownEnvironment('sandboxBroker', {
        LOOPRAIL_LOG_LEVEL: props.logLevel ?? 'info',
        [ENV_SANDBOX_CLUSTER]: this.tasks.cluster.clusterArn,
        [ENV_SANDBOX_SUBNETS]: network.vpc.selectSubnets(network.sandboxSubnets).subnetIds.join(','),
        [ENV_SANDBOX_SECURITY_GROUPS]: network.sandboxSecurityGroup.securityGroupId,
        [ENV_SANDBOX_TASK_FAMILY_PREFIX]: this.familyPrefix,
        [ENV_SANDBOX_SIGNING_SECRET]: this.signingSecret.secretName,
        [ENV_SANDBOX_REPOS_BUCKET]: this.repositories.bucketName,
        [ENV_SANDBOX_REPOS]: this.repositories.bucketName ? JSON.stringify(this.repositories.keys) : undefined,
        [ENV_SANDBOX_EGRESS_PROXY]: this.proxy?.address,
      }),
      vpc: { vpc: network.vpc, subnets: network.sandboxSubnets, securityGroups: [network.brokerSecurityGroup] },
      ...defaults,
    });
  }

  private createSweeper(props: SandboxesProps, defaults: FunctionDefaults, stack: Stack): HandlerFunction {
    const clusterArn = this.tasks.cluster.clusterArn;
    const sweeper = new HandlerFunction(this, 'Sweeper', {
      entry: 'functions/sandbox/sweeper.ts',
      description: 'Stops sandbox tasks whose run has ended (every 5 minutes)',
      memorySize: 256,
      timeout: Duration.minutes(2),
      environment: ownEnvironment('sandboxSweeper', {
        LOOPRAIL_LOG_LEVEL: props.logLevel ?? 'info',
        LOOPRAIL_TABLE_NAME: props.table.tableName,
        [ENV_SANDBOX_CLUSTER]: clusterArn,
        // The tasks' own lifetime limit: past it (and a margin) the sweeper stops a task whatever its run says.
        [ENV_AGENT_MAX_SECONDS]: String(props.maxSeconds ?? DEFAULT_SANDBOX_MAX_SECONDS),
      }),
      ...defaults,
    });
    const cluster = { ArnEquals: { 'ecs:cluster': clusterArn } };
    const clusterTasks = this.clusterTasksArn(stack);
    const role = sweeper.role;
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ecs:ListTasks'], resources: ['*'], conditions: cluster }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
        resources: [clusterTasks],
        conditions: cluster,
      }),
    );
    // The run's record only: was it finished?
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [props.table.table.tableArn] }),
    );
    acknowledgeWildcardResource(
      role,
      '*',
      'ecs:ListTasks authorizes on the cluster only through the ecs:cluster condition (which this statement sets); ' +
        'it has no task resource.',
    );
    acknowledgeWildcardResource(
      role,
      clusterTasks,
      "Sandbox task ids are made by RunTask; the statement is limited to the sandbox cluster's tasks " +
        '(and the ecs:cluster condition).',
    );
    return sweeper;
  }

  private clusterTasksArn(stack: Stack): string {
    return stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.tasks.cluster.clusterName}/*` });
  }

  private grantBroker(stack: Stack): void {
    const role = this.broker.role;
    const cluster = { ArnEquals: { 'ecs:cluster': this.tasks.cluster.clusterArn } };
    const clusterTasks = this.clusterTasksArn(stack);
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ecs:RunTask'], resources: this.taskDefinitionArns, conditions: cluster }),
    );
    // RunTask tags each task with its sandbox and agent (the sweeper finds them by it).
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ecs:TagResource'],
        resources: [clusterTasks],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
        resources: [clusterTasks],
        conditions: cluster,
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ecs:ListTasks'], resources: ['*'], conditions: cluster }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [...this.tasks.executionRoles.values()].map((each: IRole) => each.roleArn),
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    this.signingSecret.grantRead(role);
    const archives = this.repositories.objectArns;
    if (archives.length > 0) {
      role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: archives }));
    }
    this.acknowledgeBrokerWildcards(clusterTasks);
  }

  private acknowledgeBrokerWildcards(clusterTasks: string): void {
    const role = this.broker.role;
    for (const arn of this.taskDefinitionArns) {
      acknowledgeWildcardResource(
        role,
        arn,
        'Each RunTask starts the newest revision of a sandbox family; the statement names every family and holds ' +
          'the ecs:cluster condition.',
      );
    }
    acknowledgeWildcardResource(
      role,
      clusterTasks,
      "Sandbox task ids are made by RunTask; the statements are limited to the sandbox cluster's tasks " +
        '(and the ecs:cluster condition, or RunTask for tagging).',
    );
    acknowledgeWildcardResource(
      role,
      '*',
      'ecs:ListTasks authorizes on the cluster only through the ecs:cluster condition (which its statement sets); ' +
        "and Lambda manages the function's VPC network interfaces, whose ids do not exist before it does " +
        '(the ec2 actions AWSLambdaVPCAccessExecutionRole grants).',
    );
  }
}
