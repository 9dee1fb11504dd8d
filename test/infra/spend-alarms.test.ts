import { runSimulation } from '@cloud-copilot/iam-simulate';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { BudgetDeclaration } from '../../core/definitions/org.ts';
import { alertEmails } from '../../infra/constructs/spend-monitoring.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';
import { LooprailStack } from '../../infra/stacks/looprail-stack.ts';
import { CDK_CONTEXT } from '../support/stack-fixtures.ts';

/**
 * Budget alarms reach people: CloudWatch may publish to the topic (the key's and the topic's
 * policies, evaluated by an IAM policy evaluator), and every `alerts: - email:` is subscribed.
 */

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

const budget = (fields: Record<string, unknown>) => BudgetDeclaration.parse(fields);
const CATALOG: Catalog = {
  agents: {},
  models: {},
  servers: {},
  skills: {},
  secrets: [],
  budgets: {
    budgets: [
      budget({
        name: 'triage-daily',
        agent: 'triage',
        period: 'day',
        limit_usd: 5,
        alerts: [{ email: 'oncall@example.com' }, { event: true }],
      }),
      budget({
        name: 'platform-daily',
        team: 'platform',
        period: 'day',
        limit_usd: 50,
        alerts: [{ email: 'platform@example.com' }, { email: 'oncall@example.com' }],
      }),
      budget({ name: 'platform-monthly', team: 'platform', period: 'month', limit_usd: 500 }),
    ],
    limits: [],
  },
};

function synth(stackName = 'Looprail') {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new LooprailStack(app, stackName, { env: { account: ACCOUNT, region: REGION }, catalog: CATALOG });
  return { app, stack, template: Template.fromStack(stack) };
}

/** Template values with the intrinsics these policies use resolved as AWS would (partition `aws`). */
function resolve(value: unknown, refs: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((each) => resolve(each, refs));
  if (!value || typeof value !== 'object') return value;
  const node = value as Record<string, unknown>;
  if (typeof node.Ref === 'string') return node.Ref === 'AWS::Partition' ? 'aws' : refs[node.Ref];
  const join = node['Fn::Join'] as [string, unknown[]] | undefined;
  if (join) return (resolve(join[1], refs) as string[]).join(join[0]);
  return Object.fromEntries(Object.entries(node).map(([key, each]) => [key, resolve(each, refs)]));
}

describe('spend alarms', () => {
  const { app, stack, template } = synth();
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  const keyId = stack.getLogicalId(stack.spend.key.node.defaultChild as never);
  const topicId = stack.getLogicalId(stack.spend.topic.node.defaultChild as never);
  const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0a1b2c3d-0000-4000-8000-000000000001`;
  const topicArn = `arn:aws:sns:${REGION}:${ACCOUNT}:Looprail-SpendAlarms-ABC`;
  const refs = { [keyId]: keyArn, [topicId]: topicArn };
  const keyPolicy = resolve(resources[keyId]!.Properties.KeyPolicy, refs) as never;
  const topicPolicy = resolve(
    Object.values(resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy')!.Properties.PolicyDocument,
    refs,
  ) as never;

  /** What IAM decides for CloudWatch acting on behalf of the alarm `alarmArn`. */
  async function cloudWatch(action: string, resource: string, policy: never, alarmArn: string, account = ACCOUNT) {
    const response = await runSimulation(
      {
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: policy,
        request: {
          principal: 'cloudwatch.amazonaws.com',
          action,
          resource: { resource, accountId: ACCOUNT },
          contextVariables: { 'aws:SourceArn': alarmArn, 'aws:SourceAccount': account },
        },
      },
      {},
    );
    if (response.resultType === 'error') throw new Error(JSON.stringify(response.errors));
    return response.overallResult;
  }

  const ownAlarm = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:Looprail-budget-triage-daily`;

  it('encrypts the topic with a customer-managed key that rotates, not the AWS managed SNS key', () => {
    expect(resources[topicId]!.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(resources[keyId]!.Properties.EnableKeyRotation).toBe(true);
    expect(JSON.stringify(template.toJSON())).not.toContain('alias/aws/sns');
  });

  it("lets CloudWatch use the key and publish to the topic for this stack's alarms", async () => {
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt'])
      expect(await cloudWatch(action, keyArn, keyPolicy, ownAlarm), action).toBe('Allowed');
    expect(await cloudWatch('sns:Publish', topicArn, topicPolicy, ownAlarm)).toBe('Allowed');
  });

  it("refuses CloudWatch on behalf of another stack's alarm or another account (confused deputy)", async () => {
    const foreign = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:Other-budget-triage-daily`;
    const otherAccount = `arn:aws:cloudwatch:${REGION}:210987654321:alarm:Looprail-budget-triage-daily`;
    expect(await cloudWatch('kms:GenerateDataKey', keyArn, keyPolicy, foreign)).not.toBe('Allowed');
    expect(await cloudWatch('sns:Publish', topicArn, topicPolicy, foreign)).not.toBe('Allowed');
    expect(await cloudWatch('kms:Decrypt', keyArn, keyPolicy, otherAccount, '210987654321')).not.toBe('Allowed');
    expect(await cloudWatch('sns:Publish', topicArn, topicPolicy, otherAccount, '210987654321')).not.toBe('Allowed');
  });

  it("names each alarm with the stack's prefix the policies allow", () => {
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName);
    expect(names.sort()).toEqual(['Looprail-budget-platform-daily', 'Looprail-budget-triage-daily']);
  });

  it('subscribes every alert email once, and nothing else', () => {
    const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription')).map((s) => s.Properties);
    expect(subscriptions.map((s) => s.Endpoint).sort()).toEqual(['oncall@example.com', 'platform@example.com']);
    for (const subscription of subscriptions)
      expect(subscription).toMatchObject({ Protocol: 'email', TopicArn: { Ref: topicId } });
    expect(alertEmails(CATALOG)).toEqual(['oncall@example.com', 'platform@example.com']);
  });

  it('passes cdk-nag AwsSolutions and the looprail pack', () => {
    for (const pack of [new AwsSolutionsChecks(), new LooprailChecks()]) {
      const report = pack.validateScope(app);
      expect(
        report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath)}`),
      ).toEqual([]);
    }
  });
});
