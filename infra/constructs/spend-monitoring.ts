import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { Catalog } from '../../core/definitions/catalog.ts';

/** The namespace the steps' Embedded Metric Format lines use (adapters/metrics/emf.ts). */
const NAMESPACE = 'Looprail';

export interface SpendMonitoringProps {
  readonly catalog: Catalog;
}

/**
 * Spend as people look at it: a dashboard of cost per agent, team and model from the
 * metrics every model call emits, and an alarm per daily agent or team budget at its first
 * alert threshold, published to an encrypted topic that every `alerts: - email:` of
 * budgets.yaml is subscribed to (each address confirms its subscription once). (The budgets
 * themselves are enforced before each call; these are the operators' view.)
 */
export class SpendMonitoring extends Construct {
  readonly dashboard: Dashboard;
  readonly topic: Topic;
  readonly key: Key;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: SpendMonitoringProps) {
    super(scope, id);
    const { stackName } = Stack.of(this);
    // Alarm names carry the stack's name: two stacks in one account never share one.
    const alarmPrefix = `${stackName}-budget-`;
    // The AWS managed key (alias/aws/sns) cannot be used by CloudWatch; this key lets it, for this stack's alarms only.
    this.key = new Key(this, 'AlarmsKey', {
      description: `${stackName} spend alarms topic`,
      enableKeyRotation: true,
      // It encrypts only messages in flight: nothing outlives the topic, so it goes (after KMS's waiting period) with it.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.topic = new Topic(this, 'Alarms', {
      displayName: 'looprail spend alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    allowAlarmsToPublish(this.key, this.topic, alarmPrefix);
    for (const email of alertEmails(props.catalog)) this.topic.addSubscription(new EmailSubscription(email));

    const byDimension = (dimension: 'Agent' | 'Team' | 'Model') =>
      new GraphWidget({
        title: `Cost per ${dimension.toLowerCase()} (USD per hour)`,
        width: 12,
        left: [
          new MathExpression({
            // Costs are emitted in micro-USD (exact integers); the graph shows dollars.
            expression: `SEARCH('{${NAMESPACE},${dimension}} MetricName="CostMicros"', 'Sum', 3600) / 1000000`,
            label: dimension,
            period: Duration.hours(1),
          }),
        ],
      });
    this.dashboard = new Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new TextWidget({
            markdown:
              '# looprail spend\nCost of every model call, by agent, team and model. Budgets are enforced before each call; `looprail costs` shows the same numbers from the run table.',
            width: 24,
            height: 2,
          }),
        ],
        [byDimension('Agent'), byDimension('Team')],
        [byDimension('Model')],
      ],
    });

    for (const budget of props.catalog.budgets.budgets) {
      const dimension = budget.agent !== undefined ? 'Agent' : budget.team !== undefined ? 'Team' : undefined;
      if (!dimension || budget.period !== 'day' || budget.limit_usd === undefined) continue;
      const threshold = Math.min(...budget.alert_thresholds, 1);
      const alarm = new Alarm(this, `Budget-${budget.name}`, {
        alarmName: `${alarmPrefix}${budget.name}`,
        alarmDescription: `Daily spend of ${dimension.toLowerCase()} ${budget.agent ?? budget.team} reached ${Math.round(threshold * 100)}% of budget ${budget.name} ($${budget.limit_usd}/day)`,
        metric: new Metric({
          namespace: NAMESPACE,
          metricName: 'CostMicros',
          dimensionsMap: { [dimension]: (budget.agent ?? budget.team)! },
          statistic: 'Sum',
          period: Duration.days(1),
        }),
        threshold: Math.round(budget.limit_usd * threshold * 1_000_000),
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(new SnsAction(this.topic));
      this.alarms.push(alarm);
    }
  }
}

/** Every `alerts: - email:` address of budgets.yaml, once each, in order of appearance. */
export function alertEmails(catalog: Catalog): string[] {
  const emails = catalog.budgets.budgets.flatMap((budget) =>
    budget.alerts.flatMap((alert) => ('email' in alert ? [alert.email] : [])),
  );
  return [...new Set(emails)];
}

/**
 * CloudWatch publishes alarm notifications as its service principal: it needs sns:Publish on
 * the topic and kms:GenerateDataKey* and kms:Decrypt on the topic's key, both only on behalf of this
 * account's alarms named with the stack's prefix (aws:SourceAccount and aws:SourceArn,
 * against the confused-deputy problem, as the SNS key-management guide documents).
 */
function allowAlarmsToPublish(key: Key, topic: Topic, alarmPrefix: string): void {
  const { account, region, partition } = Stack.of(topic);
  const principal = new ServicePrincipal('cloudwatch.amazonaws.com');
  const conditions = {
    StringEquals: { 'aws:SourceAccount': account },
    ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:${alarmPrefix}*` },
  };
  key.addToResourcePolicy(
    new PolicyStatement({
      effect: Effect.ALLOW,
      principals: [principal],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions,
    }),
  );
  topic.addToResourcePolicy(
    new PolicyStatement({
      effect: Effect.ALLOW,
      principals: [principal],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions,
    }),
  );
}
