import { Duration, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { functionEnvironment } from '../../functions/_shared/env-contract.ts';
import { AgentTriggers } from './agent-triggers.ts';
import { HandlerFunction } from './handler-function.ts';
import type { RunTable } from './run-table.ts';
import { catalogBundling, type LogLevel } from './step-functions.ts';

export interface TriggerFunctionsProps {
  /** The validated catalog: the schedules and rules follow it, and both functions get it bundled. */
  readonly catalog: Catalog;
  readonly table: RunTable;
  /** The agent-run state machine the triggers start executions of. */
  readonly stateMachine: IStateMachine;
  /** Days a run's messages and trace events live. Default: 90. */
  readonly traceTtlDays?: number;
  /** Default: 'info'. */
  readonly logLevel?: LogLevel;
  /** Default: ONE_MONTH (see HandlerFunction). */
  readonly logRetention?: RetentionDays;
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Where agents' event rules listen. Default: the account's default bus. */
  readonly eventBus?: IEventBus;
  /** Default: the repository root. */
  readonly projectRoot?: string;
}

/**
 * `trigger.schedule` and `trigger.event` on AWS: the schedule and event functions
 * (functions/trigger/), each with its own role that may read/write the run table's items
 * and start executions of the agent-run state machine, and nothing else; and the
 * Scheduler schedules and EventBridge rules that invoke them (AgentTriggers).
 *
 * Both functions read the catalog (is the agent known, enabled, is its input valid), so
 * each gets it bundled, as StartRun does.
 */
export class TriggerFunctions extends Construct {
  readonly schedule: HandlerFunction;
  readonly event: HandlerFunction;
  readonly triggers: AgentTriggers;

  constructor(scope: Construct, id: string, props: TriggerFunctionsProps) {
    super(scope, id);
    const base = { tableName: props.table.tableName, traceTtlDays: props.traceTtlDays, logLevel: props.logLevel };
    const environment = functionEnvironment('trigger', base, {
      LOOPRAIL_STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
    });
    const bundling = catalogBundling(props.catalog, Stack.of(this).bundlingRequired);

    const make = (name: string, entry: string, description: string): HandlerFunction => {
      const handler = new HandlerFunction(this, name, {
        entry,
        description,
        memorySize: 256,
        timeout: Duration.seconds(30),
        environment,
        logRetention: props.logRetention,
        logRemovalPolicy: props.logRemovalPolicy,
        projectRoot: props.projectRoot,
        bundling,
      });
      props.table.grantReadWriteItems(handler);
      handler.role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['states:StartExecution'], resources: [props.stateMachine.stateMachineArn] }),
      );
      return handler;
    };

    this.schedule = make(
      'Schedule',
      'functions/trigger/schedule.ts',
      "Starts a run of an agent at its schedule's firing",
    );
    this.event = make(
      'Event',
      'functions/trigger/event.ts',
      "Starts a run of an agent for an event matching its rule's pattern",
    );

    this.triggers = new AgentTriggers(this, 'Agents', {
      catalog: props.catalog,
      scheduleFunction: this.schedule.function,
      eventFunction: this.event.function,
      eventBus: props.eventBus,
    });
  }

  /** Both functions, schedule first. */
  get handlers(): HandlerFunction[] {
    return [this.schedule, this.event];
  }
}
