import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { EventField, Rule, RuleTargetInput, type CfnRule, type IEventBus } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Catalog } from '../../core/definitions/catalog.ts';

export interface AgentTriggersProps {
  /** The validated org folder: every agent's `trigger.schedule` and `trigger.event`. */
  readonly catalog: Catalog;
  /** functions/trigger/schedule.ts: invoked with `{ agent, scheduledTime }`. */
  readonly scheduleFunction: IFunction;
  /** functions/trigger/event.ts: invoked with `{ agent, id, source, detail-type, detail, time }`. */
  readonly eventFunction: IFunction;
  /** Where agents' event rules listen. Default: the account's default bus. */
  readonly eventBus?: IEventBus;
  /** Attempts after the first when the target cannot be invoked. Default: 5. */
  readonly retryAttempts?: number;
  /** How long an undelivered firing or event is retried before it goes to the dead-letter queue. Default: 1 hour. */
  readonly maxEventAge?: Duration;
}

/** Scheduler substitutes this in the target input with the firing's scheduled time (ISO 8601, UTC). */
const SCHEDULED_TIME = '<aws.scheduler.scheduled-time>';

/**
 * The AWS side of `trigger.schedule` and `trigger.event`:
 * - one EventBridge Scheduler schedule per scheduled agent, in the agent's time zone,
 *   DISABLED while the agent is paused, invoking the schedule function with
 *   `{ agent, scheduledTime }` (the run's dedupe key, so retries start one run);
 * - one EventBridge rule per event-triggered agent, with the definition's pattern, sending
 *   the event function only what a run needs (id, source, detail-type, detail, time);
 * - one encrypted, SSL-only dead-letter queue for firings and events that could not be
 *   delivered after the retries;
 * - one role Scheduler assumes, allowed to invoke exactly the schedule function and to
 *   send to the dead-letter queue, for this account only.
 */
export class AgentTriggers extends Construct {
  /** By agent name. */
  readonly schedules = new Map<string, CfnSchedule>();
  /** By agent name. */
  readonly rules = new Map<string, Rule>();
  readonly deadLetterQueue?: Queue;
  readonly schedulerRole?: Role;

  constructor(scope: Construct, id: string, props: AgentTriggersProps) {
    super(scope, id);
    const agents = Object.values(props.catalog.agents).sort((a, b) => a.spec.name.localeCompare(b.spec.name));
    const scheduled = agents.filter((entry) => entry.trigger?.schedule);
    const evented = agents.filter((entry) => entry.trigger?.event);
    if (scheduled.length === 0 && evented.length === 0) return;

    const retryAttempts = props.retryAttempts ?? 5;
    const maxEventAge = props.maxEventAge ?? Duration.hours(1);

    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself the dead-letter queue of the agents' schedules and event rules (Scheduler and EventBridge DLQs are not SQS redrive policies, which cdk-nag looks for).",
    });

    if (scheduled.length > 0) {
      const account = Stack.of(this).account;
      this.schedulerRole = new Role(this, 'SchedulerRole', {
        assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
        description: 'EventBridge Scheduler invokes the looprail schedule function with it, and nothing else',
      });
      this.schedulerRole.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.scheduleFunction.functionArn] }),
      );
      this.schedulerRole.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }),
      );

      for (const entry of scheduled) {
        const agent = entry.spec.name;
        const schedule = entry.trigger!.schedule!;
        this.schedules.set(
          agent,
          new CfnSchedule(this, `Schedule-${agent}`, {
            description: `looprail: starts a run of agent ${agent}`,
            scheduleExpression: schedule.expression,
            scheduleExpressionTimezone: schedule.timezone,
            flexibleTimeWindow: { mode: 'OFF' },
            state: entry.spec.enabled ? 'ENABLED' : 'DISABLED',
            target: {
              arn: props.scheduleFunction.functionArn,
              roleArn: this.schedulerRole.roleArn,
              input: JSON.stringify({ agent, scheduledTime: SCHEDULED_TIME }),
              retryPolicy: { maximumRetryAttempts: retryAttempts, maximumEventAgeInSeconds: maxEventAge.toSeconds() },
              deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
            },
          }),
        );
      }
    }

    for (const entry of evented) {
      const agent = entry.spec.name;
      const rule = new Rule(this, `Event-${agent}`, {
        description: `looprail: events matching agent ${agent}'s pattern start a run`,
        eventBus: props.eventBus,
        enabled: entry.spec.enabled,
        // Replaced below by the definition's pattern as written (EventBridge's own key names).
        eventPattern: { source: ['looprail.placeholder'] },
        targets: [
          new LambdaFunction(props.eventFunction, {
            event: RuleTargetInput.fromObject({
              agent,
              id: EventField.eventId,
              source: EventField.source,
              'detail-type': EventField.detailType,
              time: EventField.time,
              detail: EventField.fromPath('$.detail'),
            }),
            retryAttempts,
            maxEventAge,
            deadLetterQueue: this.deadLetterQueue,
          }),
        ],
      });
      (rule.node.defaultChild as CfnRule).addPropertyOverride('EventPattern', entry.trigger!.event!.pattern);
      this.rules.set(agent, rule);
    }
  }
}
