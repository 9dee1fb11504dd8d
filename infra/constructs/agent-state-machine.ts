import { ArnFormat, RemovalPolicy, Stack, Validations, type Duration } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './handler-function.ts';
import { acknowledgeWildcardResource } from '../nag/acknowledge.ts';
import { retainedName, stackPrefix } from './stack-names.ts';

/** The agent-run state machine, relative to the project root. */
export const AGENT_RUN_ASL = 'statemachines/agent-run.asl.json';

export interface AgentStateMachineProps {
  /**
   * The Lambda function ARN for each `${<Name>}` placeholder in the ASL file, e.g.
   * `{ StartRunFunctionArn: fn.functionArn }`. Every placeholder must have one, and every
   * entry must be used: a mismatch fails the synth rather than deploying a broken loop.
   */
  readonly functionArns: Readonly<Record<string, string>>;
  /** Default: statemachines/agent-run.asl.json under the project root. */
  readonly definitionFile?: string;
  /** Default: ONE_MONTH. */
  readonly logRetention?: RetentionDays;
  /** Default: RETAIN. */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Default: none (each run enforces its own wall-clock limit; Standard allows a year). */
  readonly timeout?: Duration;
}

/** The `${Name}` placeholders in an ASL text, sorted and unique. */
export function aslPlaceholders(asl: string): string[] {
  return [...new Set([...asl.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((match) => match[1]!))].sort();
}

/**
 * The agent-run state machine: a STANDARD execution per run, defined by the ASL file the
 * local host runs too, with each placeholder substituted by CloudFormation. Logs every
 * event (ALL) without execution data, traces with X-Ray, and runs under a role that may
 * invoke exactly the functions it was given.
 */
export class AgentStateMachine extends Construct {
  readonly stateMachine: StateMachine;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: AgentStateMachineProps) {
    super(scope, id);
    const definitionFile = props.definitionFile ?? join(PROJECT_ROOT, AGENT_RUN_ASL);
    checkSubstitutions(definitionFile, props.functionArns);

    const stack = Stack.of(this);
    this.logGroup = new LogGroup(this, 'Logs', {
      // The /aws/vendedlogs/ prefix keeps CloudWatch Logs' resource policy from growing with each state machine;
      // kept on delete, so named for this creation of the stack.
      logGroupName: retainedName(this, '/aws/vendedlogs/states/', 'agent-run'),
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('states.amazonaws.com'),
      description: 'Runs the looprail agent-run state machine: invokes its step functions',
    });
    // Unqualified ARNs only: the ASL invokes $LATEST by ARN, never a version or alias.
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: Object.values(props.functionArns),
      }),
    );

    // Named, so the machine may start its own next execution (continue-as-new) by an ARN
    // known before it exists: granting on its own stateMachineArn would be a dependency cycle.
    // Step Functions allows 80 characters: a long stack name is shortened with a hash.
    const stateMachineName = `${stackPrefix(this, 70)}-agent-run`;
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [
          stack.formatArn({
            service: 'states',
            resource: 'stateMachine',
            resourceName: stateMachineName,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    // Delegate (`startExecution.sync:2`): the machine waits for a sub-agent's child execution of
    // itself, which Step Functions does by describing it, stopping it when the parent stops,
    // and a managed EventBridge rule for its status changes.
    const ownExecutions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [ownExecutions],
      }),
    );
    acknowledgeWildcardResource(
      this.role,
      ownExecutions,
      "Delegate (states:startExecution.sync:2) waits for child executions of this same state machine, named by run ids not known at deploy time: DescribeExecution and StopExecution are scoped to this machine's executions.",
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
          }),
        ],
      }),
    );

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(definitionFile),
      definitionSubstitutions: { ...props.functionArns },
      role: this.role,
      tracingEnabled: true,
      logs: {
        destination: this.logGroup,
        level: LogLevel.ALL,
        // Payloads carry ids only, but a handler bug must not leak a conversation into logs.
        includeExecutionData: false,
      },
      timeout: props.timeout,
    });

    // StateMachine adds these statements to the role for `logs` and `tracingEnabled`.
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the statements StateMachine adds for its logging and tracing use Resource "*": CloudWatch Logs vended log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support no resource-level permissions.',
    });
  }
}

function checkSubstitutions(definitionFile: string, functionArns: Readonly<Record<string, string>>): void {
  const placeholders = aslPlaceholders(readFileSync(definitionFile, 'utf8'));
  const given = Object.keys(functionArns).sort();
  const missing = placeholders.filter((name) => !given.includes(name));
  const unused = given.filter((name) => !placeholders.includes(name));
  if (missing.length > 0 || unused.length > 0) {
    const parts = [
      missing.length > 0 ? `no function for ${missing.map((n) => `\${${n}}`).join(', ')}` : '',
      unused.length > 0 ? `no placeholder for ${unused.join(', ')}` : '',
    ].filter(Boolean);
    throw new Error(`${definitionFile}: ${parts.join('; ')}`);
  }
}
