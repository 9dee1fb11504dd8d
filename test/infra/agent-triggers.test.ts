import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, type NagPack } from 'cdk-nag';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentSpec, TriggerSpec } from '../../core/definitions/agent.ts';
import type { AgentEntry, Catalog } from '../../core/definitions/catalog.ts';
import { AgentTriggers } from '../../infra/constructs/agent-triggers.ts';
import { HandlerFunction } from '../../infra/constructs/handler-function.ts';
import { functionEnvironment } from '../../functions/_shared/env-contract.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';

const ROOT = join(import.meta.dirname, '../..');
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;

const instructions = { path: './i.md', version: 'v1', text: 'Do the work.', sha256: '' };
function agent(name: string, trigger?: unknown, enabled = true): AgentEntry {
  return {
    file: `${name}.yaml`,
    spec: AgentSpec.parse({ name, model: 'm', instructions: './i.md@v1', enabled }),
    trigger: trigger === undefined ? undefined : TriggerSpec.parse(trigger),
    instructions,
    subagentInstructions: {},
  };
}

const DEPLOY_PATTERN = {
  source: ['acme.deploy'],
  'detail-type': ['Deployment Finished'],
  detail: { status: ['failed'] },
};

const CATALOG: Catalog = {
  agents: {
    morning: agent('morning', { schedule: { cron: '0 6 * * 1-5', timezone: 'Europe/Paris' } }),
    sweep: agent('sweep', { schedule: 'rate(15 minutes)' }, false),
    'on-deploy': agent('on-deploy', { event: { pattern: DEPLOY_PATTERN } }),
    'paused-events': agent('paused-events', { event: { pattern: { source: ['acme.billing'] } } }, false),
    manual: agent('manual'),
    'on-push': agent('on-push', { webhook: { secret: 'gh', scheme: 'github' } }),
  },
  models: {},
  servers: {},
  skills: {},
  secrets: ['gh'],
  budgets: { budgets: [], limits: [] },
};

function synth(catalog: Catalog = CATALOG) {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Triggers', { env: { account: '123456789012', region: 'eu-west-1' } });
  const fn = (id: string, entry: string) =>
    new HandlerFunction(stack, id, {
      entry,
      description: id,
      memorySize: 256,
      timeout: Duration.seconds(30),
      environment: functionEnvironment('runtime', { tableName: 'looprail-runs' }, {}),
    });
  const schedule = fn('ScheduleTrigger', 'functions/trigger/schedule.ts');
  const event = fn('EventTrigger', 'functions/trigger/event.ts');
  const triggers = new AgentTriggers(stack, 'AgentTriggers', {
    catalog,
    scheduleFunction: schedule.function,
    eventFunction: event.function,
  });
  return { app, stack, triggers, schedule, event, template: Template.fromStack(stack) };
}

const ref = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

function nagViolations(pack: NagPack, app: App): string[] {
  const report = pack.validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}: ${v.description}`),
  );
}

describe('AgentTriggers', () => {
  const { app, stack, triggers, schedule, event, template } = synth();
  const scheduleArn = { 'Fn::GetAtt': [ref(stack, schedule.function), 'Arn'] };
  const eventArn = { 'Fn::GetAtt': [ref(stack, event.function), 'Arn'] };
  const queueArn = { 'Fn::GetAtt': [stack.getLogicalId(triggers.deadLetterQueue!.node.defaultChild as never), 'Arn'] };
  const roleArn = { 'Fn::GetAtt': [stack.getLogicalId(triggers.schedulerRole!.node.defaultChild as never), 'Arn'] };

  it('creates one Scheduler schedule per scheduled agent, in its time zone, with retries and a dead-letter queue', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'Europe/Paris',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: scheduleArn,
        RoleArn: roleArn,
        Input: '{"agent":"morning","scheduledTime":"<aws.scheduler.scheduled-time>"}',
        RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: queueArn },
      },
    });
  });

  it('disables the schedule of a paused agent', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'DISABLED',
      Target: Match.objectLike({ Input: '{"agent":"sweep","scheduledTime":"<aws.scheduler.scheduled-time>"}' }),
    });
  });

  it('gives Scheduler a role, for this account only, that may invoke exactly the schedule function and send to the DLQ', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
          },
        ],
      },
    });
    const policy = triggers.schedulerRole!.node.tryFindChild('DefaultPolicy') as { node: { defaultChild?: unknown } };
    const statements = template.toJSON().Resources[ref(stack, policy)].Properties.PolicyDocument.Statement;
    expect(statements).toEqual([
      { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: scheduleArn },
      { Action: 'sqs:SendMessage', Effect: 'Allow', Resource: queueArn },
    ]);
  });

  it('creates one rule per event-triggered agent with its pattern as written, and a small input', () => {
    // The two agents' rules; no rule for the scheduled, manual or webhook agents.
    template.resourceCountIs('AWS::Events::Rule', 2);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: DEPLOY_PATTERN,
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: eventArn,
          RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: queueArn },
          InputTransformer: {
            InputPathsMap: {
              id: '$.id',
              source: '$.source',
              'detail-type': '$.detail-type',
              time: '$.time',
              detail: '$.detail',
            },
            InputTemplate:
              '{"agent":"on-deploy","id":<id>,"source":<source>,"detail-type":<detail-type>,"time":<time>,"detail":<detail>}',
          },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['acme.billing'] },
      State: 'DISABLED',
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: eventArn,
    });
  });

  it('keeps the dead-letter queue encrypted and SSL-only, and lets only the rules send to it besides Scheduler', () => {
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86_400,
    });
    const policies = JSON.stringify(template.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toContain('"aws:SecureTransport":"false"');
    expect(policies).toContain('events.amazonaws.com');
  });

  it('passes cdk-nag AwsSolutions and the looprail pack', () => {
    expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
    expect(nagViolations(new LooprailChecks(), app)).toEqual([]);
  });

  it('acknowledges only SQS3 on the dead-letter queue (it is the DLQ), with its reason', () => {
    const acknowledged = triggers.node
      .findAll()
      .flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
          .flatMap((entry) =>
            Object.keys(entry.data as Record<string, string>).map((id) => `${construct.node.path} ${id}`),
          ),
      );
    expect(acknowledged).toEqual([
      expect.stringMatching(/^Triggers\/AgentTriggers\/DeadLetters (Annotation::)?AwsSolutions-SQS3$/),
    ]);
  });

  it('creates nothing for a catalog without schedules or events', () => {
    const { template: empty, triggers: none } = synth({
      ...CATALOG,
      agents: { manual: CATALOG.agents.manual!, 'on-push': CATALOG.agents['on-push']! },
    });
    expect(none.deadLetterQueue).toBeUndefined();
    empty.resourceCountIs('AWS::Scheduler::Schedule', 0);
    empty.resourceCountIs('AWS::Events::Rule', 0);
    empty.resourceCountIs('AWS::SQS::Queue', 0);
  });

  it('takes retries and event age from its props', () => {
    const app2 = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
    const stack2 = new Stack(app2, 'Tuned');
    const fn = new HandlerFunction(stack2, 'Fn', {
      entry: 'functions/trigger/schedule.ts',
      description: 'x',
      memorySize: 256,
      timeout: Duration.seconds(30),
      environment: functionEnvironment('runtime', { tableName: 'looprail-runs' }, {}),
    });
    new AgentTriggers(stack2, 'T', {
      catalog: CATALOG,
      scheduleFunction: fn.function,
      eventFunction: fn.function,
      retryAttempts: 2,
      maxEventAge: Duration.minutes(10),
    });
    Template.fromStack(stack2).hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 600 } }),
    });
  });
});
