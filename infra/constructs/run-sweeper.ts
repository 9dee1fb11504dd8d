import { Duration } from 'aws-cdk-lib';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { RUN_FAILED } from '../../core/errors.ts';

export interface RunSweeperProps {
  readonly stateMachine: IStateMachine;
  /** The FailRun step: idempotent, so a run it already closed is left as it is. */
  readonly failRun: IFunction;
}

/**
 * The endings FailRun has not seen: stopped or timed out as a whole, or failed with any error
 * but the machine's own RunFailed (a FAILED execution's error may also be null or absent).
 */
const SWEPT_ENDINGS = [
  { status: ['TIMED_OUT', 'ABORTED'] },
  { status: ['FAILED'], error: [{ 'anything-but': [RUN_FAILED] }] },
  { status: ['FAILED'], error: [null] },
  { status: ['FAILED'], error: [{ exists: false }] },
];

/**
 * Some endings never reach the state machine's Catch: an execution stopped by hand, one
 * that timed out as a whole, or a States.Runtime failure. This rule hands each of them to
 * FailRun, so no run is ever left "running" without a stop reason. An execution that ended
 * in RunFailed went through FailRun already, so the rule leaves it alone.
 */
export class RunSweeper extends Construct {
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: RunSweeperProps) {
    super(scope, id);
    this.rule = new Rule(this, 'ExecutionEnded', {
      description: 'Closes runs whose execution ended outside the state machine (aborted, timed out, runtime failure)',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [props.stateMachine.stateMachineArn], $or: SWEPT_ENDINGS },
      },
      targets: [
        new LambdaFunction(props.failRun, {
          // The execution name is the run id (docs/architecture.md, The flow: one execution per run).
          event: RuleTargetInput.fromObject({
            runId: EventField.fromPath('$.detail.name'),
            error: {
              Error: `looprail.Execution${EventField.fromPath('$.detail.status')}`,
              Cause: 'the execution ended outside the state machine',
            },
          }),
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });
  }
}
