import { Duration } from 'aws-cdk-lib';
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
import { Alias } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
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
 * alert threshold, published to an encrypted topic teams can subscribe to. (The budgets
 * themselves are enforced before each call; these are the operators' view.)
 */
export class SpendMonitoring extends Construct {
  readonly dashboard: Dashboard;
  readonly topic: Topic;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: SpendMonitoringProps) {
    super(scope, id);
    this.topic = new Topic(this, 'Alarms', {
      displayName: 'looprail spend alarms',
      masterKey: Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });

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
        alarmName: `looprail-budget-${budget.name}`,
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
