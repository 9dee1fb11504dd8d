import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DefinitionBody, Pass, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks, type NagPack } from 'cdk-nag';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentSpec, TriggerSpec } from '../../core/definitions/agent.ts';
import type { AgentEntry, Catalog } from '../../core/definitions/catalog.ts';
import {
  DEFAULT_API_THROTTLE,
  LooprailHttpApi,
  webhookSecrets,
  type LooprailHttpApiProps,
} from '../../infra/constructs/http-api.ts';
import { RUN_TABLE_DATA_ACTIONS, RunTable } from '../../infra/constructs/run-table.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';

const ROOT = join(import.meta.dirname, '../..');
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;

const instructions = { path: './i.md', version: 'v1', text: 'Do the work.', sha256: '' };
function agent(name: string, trigger?: unknown): AgentEntry {
  return {
    file: `${name}.yaml`,
    spec: AgentSpec.parse({ name, model: 'm', instructions: './i.md@v1' }),
    trigger: trigger === undefined ? undefined : TriggerSpec.parse(trigger),
    instructions,
    subagentInstructions: {},
  };
}

/** Two webhook agents sharing one secret, one with its own, and agents whose secrets the API must not read. */
const CATALOG: Catalog = {
  agents: {
    'on-push': agent('on-push', { webhook: { secret: 'gh-hook', scheme: 'github' } }),
    'on-pr': agent('on-pr', { webhook: { secret: 'gh-hook', scheme: 'github' } }),
    'on-alert': agent('on-alert', { webhook: { secret: 'pager-hook' } }),
    nightly: agent('nightly', { schedule: 'rate(1 day)' }),
    manual: agent('manual'),
  },
  models: {
    m: {
      name: 'm',
      declaration: {
        provider: 'anthropic',
        model_id: 'claude-sonnet-4-6',
        secret: 'anthropic-key',
        price: { input_per_mtok: 3, output_per_mtok: 15 },
      },
    },
  },
  servers: {},
  skills: {},
  secrets: ['gh-hook', 'pager-hook', 'anthropic-key'],
  budgets: { budgets: [], limits: [] },
};

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

function synth(props: Partial<LooprailHttpApiProps> = {}) {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Api', { env: { account: '123456789012', region: 'eu-west-1' } });
  const table = new RunTable(stack, 'Table');
  const stateMachine = new StateMachine(stack, 'Machine', {
    definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'Nothing')),
  });
  const http = new LooprailHttpApi(stack, 'Http', { catalog: CATALOG, table, stateMachine, ...props });
  const template = Template.fromStack(stack);
  const id = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as never);
  const policy = http.handler.role.node.tryFindChild('DefaultPolicy') as { node: { defaultChild?: unknown } };
  // Action lists sorted: the order CDK writes them in is not part of the grant.
  const statements = (template.toJSON().Resources[id(policy)].Properties.PolicyDocument.Statement as Statement[]).map(
    (st) => (Array.isArray(st.Action) ? { ...st, Action: [...st.Action].sort() } : st),
  );
  return { app, stack, http, table, stateMachine, template, id, statements };
}

/** Findings under the construct under test (the stand-in state machine is not it; the stack test covers the real one). */
function nagViolations(pack: NagPack, app: App): string[] {
  const report = pack.validateScope(app);
  return report.violations
    .flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}: ${v.description}`),
    )
    .filter((finding) => finding.includes(' at Api/Http/'));
}

describe('LooprailHttpApi', () => {
  const { app, stack, http, table, stateMachine, template, id, statements } = synth();
  const fnArn = { 'Fn::GetAtt': [id(http.handler.function), 'Arn'] };
  const secret = (name: string) => ({
    'Fn::Join': [
      '',
      ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:eu-west-1:123456789012:secret:${name}-??????`],
    ],
  });

  it('routes /v1 through the IAM authorizer, and only openapi.json and the webhooks without one', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties as { RouteKey: string; AuthorizationType: string },
    );
    expect(routes.map((r) => [r.RouteKey, r.AuthorizationType]).sort()).toEqual([
      ['ANY /v1/{proxy+}', 'AWS_IAM'],
      ['GET /console', 'AWS_IAM'],
      ['GET /console/{proxy+}', 'AWS_IAM'],
      ['GET /openapi.json', 'NONE'],
      ['POST /webhooks/{agent}', 'NONE'],
    ]);
    expect([...http.routes.keys()].sort()).toEqual([
      'ANY /v1/{proxy+}',
      'GET /console',
      'GET /console/{proxy+}',
      'GET /openapi.json',
      'POST /webhooks/{agent}',
    ]);
  });

  it('sends every route to the one app function, payload format 2.0, each invoke permission scoped to its route', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Integration', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: fnArn,
      PayloadFormatVersion: '2.0',
    });
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).map((p) => p.Properties);
    expect(permissions).toHaveLength(5);
    for (const permission of permissions) {
      expect(permission).toMatchObject({
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: fnArn,
      });
      expect(JSON.stringify(permission.SourceArn)).toContain(id(http.api));
    }
  });

  it('logs every request as JSON to a log group with a retention, and throttles the stage', () => {
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'));
    expect(stage).toHaveLength(1);
    expect(stage[0]!.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: DEFAULT_API_THROTTLE.rateLimit,
        ThrottlingBurstLimit: DEFAULT_API_THROTTLE.burstLimit,
      },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [id(http.accessLogs), 'Arn'] } },
    });
    const format = JSON.parse(stage[0]!.Properties.AccessLogSettings.Format as string) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
      caller: '$context.identity.userArn',
    });
    // No headers or query string: a webhook signature or a link token never reaches the log.
    expect(Object.values(format).join(' ')).not.toMatch(/header|querystring/i);
    expect(template.toJSON().Resources[id(http.accessLogs)]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { RetentionInDays: 30 },
    });
  });

  it('tells the app where the table and the state machine are', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('HTTP app'),
      Timeout: 29,
      Environment: {
        Variables: Match.objectLike({
          LOOPRAIL_TABLE_NAME: { Ref: id(table.table) },
          LOOPRAIL_STATE_MACHINE_ARN: { Ref: id(stateMachine) },
          LOOPRAIL_SECRETS: 'aws',
        }),
      },
    });
  });

  it("grants exactly: its log group, the table's items, Query on the status index, StartExecution on the state machine, StopExecution on its executions, the webhook secrets", () => {
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [id(http.handler.logGroup), 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: [...RUN_TABLE_DATA_ACTIONS].sort(),
        Resource: [
          { 'Fn::GetAtt': [id(table.table), 'Arn'] },
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id(table.table), 'Arn'] }, '/index/gsi1']] },
        ],
      },
      {
        // GET /v1/runs, /v1/approvals and the console list across agents on the status index.
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id(table.table), 'Arn'] }, '/index/runsByStatus']] },
      },
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: id(stateMachine) } },
      {
        Effect: 'Allow',
        Action: 'states:StopExecution',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':states:eu-west-1:123456789012:execution:',
              { 'Fn::GetAtt': [id(stateMachine), 'Name'] },
              ':*',
            ],
          ],
        },
      },
      // The webhook agents' secrets, once each; not the model key, not any other agent's.
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: [secret('gh-hook'), secret('pager-hook')] },
    ]);
    expect(JSON.stringify(template.findResources('AWS::IAM::Role'))).not.toContain('ManagedPolicyArns');
  });

  it('reads no secret at all when no agent has a webhook', () => {
    const { statements: none } = synth({ catalog: { ...CATALOG, agents: { manual: CATALOG.agents.manual! } } });
    expect(none.flatMap((s) => [s.Action].flat()).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
  });

  it('passes cdk-nag AwsSolutions and the looprail pack', () => {
    expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
    expect(nagViolations(new LooprailChecks(), app)).toEqual([]);
  });

  it('acknowledges only APIG4 on the two public routes, the execution wildcard and L1, each with a reason', () => {
    const acknowledged: string[] = [];
    for (const construct of http.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== 'aws:cdk:acknowledged-rules') continue;
        for (const [rule, reason] of Object.entries(entry.data as Record<string, string>)) {
          expect(reason.length, rule).toBeGreaterThan(40);
          acknowledged.push(`${construct.node.path} ${rule.replace(/^Annotation::/, '')}`);
        }
      }
    }
    expect(acknowledged.sort()).toEqual(
      [
        'Api/Http/Api/GET--openapi.json AwsSolutions-APIG4',
        'Api/Http/Api/POST--webhooks--{agent} AwsSolutions-APIG4',
        'Api/Http/App/Function AwsSolutions-L1',
        `Api/Http/App/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:eu-west-1:123456789012:execution:<${id(stateMachine)}.Name>:*]`,
      ].sort(),
    );
  });

  it('takes the throttling from its props', () => {
    const { template: tuned } = synth({ throttle: { rateLimit: 5, burstLimit: 10 } });
    tuned.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
  });

  it('exposes the $default stage URL', () => {
    expect(stack.resolve(http.url)).toEqual({
      'Fn::Join': ['', ['https://', { Ref: id(http.api) }, '.execute-api.eu-west-1.', { Ref: 'AWS::URLSuffix' }, '/']],
    });
  });
});

describe('webhookSecrets', () => {
  it("lists each webhook agent's secret once, sorted", () => {
    expect(webhookSecrets(CATALOG)).toEqual(['gh-hook', 'pager-hook']);
    expect(webhookSecrets({ ...CATALOG, agents: {} })).toEqual([]);
  });
});
