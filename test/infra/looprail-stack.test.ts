import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks, type NagPack } from 'cdk-nag';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentEntry, Catalog, ModelEntry } from '../../core/definitions/catalog.ts';
import { AgentSpec } from '../../core/definitions/agent.ts';
import { AGENT_RUN_ASL, AgentStateMachine, aslPlaceholders } from '../../infra/constructs/agent-state-machine.ts';
import { RUN_TABLE_DATA_ACTIONS, RunTable } from '../../infra/constructs/run-table.ts';
import { CATALOG_GLOBAL, catalogBundling, STEP_NAMES, type StepName } from '../../infra/constructs/step-functions.ts';
import type { HandlerFunction } from '../../infra/constructs/handler-function.ts';
import { TriggerSpec } from '../../core/definitions/agent.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';
import { LooprailStack, type LooprailStackProps } from '../../infra/stacks/looprail-stack.ts';

const ROOT = join(import.meta.dirname, '../..');
const ASL_TEXT = readFileSync(join(ROOT, AGENT_RUN_ASL), 'utf8');
const ASL = JSON.parse(ASL_TEXT) as {
  States: Record<string, { Type: string; TimeoutSeconds?: number; Parameters?: { FunctionName?: string } }>;
};
/** The same feature flags `cdk synth` gets from cdk.json, so these templates are the deployed ones. */
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;

const price = { input_per_mtok: 3, output_per_mtok: 15 };
const bedrockModel = (name: string, model_id: string, region?: string): ModelEntry => ({
  name,
  declaration: { provider: 'bedrock', model_id, price, ...(region ? { region } : {}) },
});

const instructions = { path: './i.md', version: 'v1', text: 'Do the work.', sha256: '' };
const agentEntry = (spec: Record<string, unknown>): AgentEntry => ({
  file: `${spec.name}.yaml`,
  spec: AgentSpec.parse({ instructions: './i.md@v1', ...spec }),
  instructions,
  subagentInstructions: {},
});

/**
 * One anthropic model with a secret, one bedrock model, one server with an auth secret;
 * an agent using the first (falling back on the second) with the server and a checker on
 * the bedrock model, and an agent with only the bedrock model and no servers.
 */
const CATALOG: Catalog = {
  agents: {
    triage: agentEntry({
      name: 'triage',
      model: 'claude-direct',
      fallback_model: 'claude-bedrock',
      mcp_servers: ['github'],
      subagents: [{ name: 'reviewer', model: 'claude-bedrock', mcp_servers: [] }],
    }),
    reporter: agentEntry({ name: 'reporter', model: 'claude-bedrock' }),
  },
  models: {
    'claude-direct': {
      name: 'claude-direct',
      declaration: { provider: 'anthropic', model_id: 'claude-sonnet-4-6', secret: 'anthropic-api-key', price },
    },
    'claude-bedrock': bedrockModel('claude-bedrock', 'anthropic.claude-sonnet-4-6-v1:0'),
  },
  servers: {
    github: {
      name: 'github',
      transport: { type: 'http', url: 'https://mcp.example.com/github' },
      auth: { secret: 'github-mcp-token', header: 'Authorization', scheme: 'Bearer' },
      timeouts: {},
      tools: { list_issues: { read_only: true } },
    },
  },
  skills: {},
  secrets: ['anthropic-api-key', 'github-mcp-token'],
  budgets: {
    budgets: [
      {
        name: 'triage-daily',
        agent: 'triage',
        period: 'day',
        limit_usd: 20,
        alert_thresholds: [0.5, 0.8, 1],
        alerts: [],
        on_exhausted: 'stop',
      },
      {
        name: 'platform-monthly',
        team: 'platform',
        period: 'month',
        limit_usd: 500,
        alert_thresholds: [0.8],
        alerts: [],
        on_exhausted: 'stop',
      },
    ],
    limits: [],
  },
};

const ENV = { account: '123456789012', region: 'eu-west-1' };

function synth(props: Partial<LooprailStackProps> = {}) {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new LooprailStack(app, 'Looprail', { env: ENV, catalog: CATALOG, ...props });
  return { app, stack, template: Template.fromStack(stack) };
}

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

/** The statements of a step's role policy, as they appear in the template. */
function statementsOf(stack: LooprailStack, template: Template, step: StepName): Statement[] {
  const policy = stack.steps.steps[step].role.node.tryFindChild('DefaultPolicy') as {
    node: { defaultChild?: unknown };
  };
  const resource = template.toJSON().Resources[logicalId(stack, policy)];
  return resource.Properties.PolicyDocument.Statement as Statement[];
}

/** The statements of an agent identity's role policy (none when it holds nothing). */
function identityStatements(stack: LooprailStack, template: Template, identity: string): Statement[] {
  const role = stack.steps.identities.roles.get(identity)!;
  const policy = role.node.tryFindChild('DefaultPolicy') as { node: { defaultChild?: unknown } } | undefined;
  if (!policy) return [];
  return template.toJSON().Resources[logicalId(stack, policy)].Properties.PolicyDocument.Statement as Statement[];
}

/** Every Lambda handler of the stack: the steps, the triggers, the HTTP app. */
function allHandlers(stack: LooprailStack): HandlerFunction[] {
  return [...stack.steps.handlers, ...stack.triggers.handlers, stack.httpApi.handler];
}

/** The statements of any handler's role policy. */
function handlerStatements(stack: LooprailStack, template: Template, handler: HandlerFunction): Statement[] {
  const policy = handler.role.node.tryFindChild('DefaultPolicy') as { node: { defaultChild?: unknown } };
  return template.toJSON().Resources[logicalId(stack, policy)].Properties.PolicyDocument.Statement as Statement[];
}

const actionsOf = (statement: Statement) => [statement.Action].flat();
const resourcesOf = (statement: Statement) => [statement.Resource].flat();
/** Resources of the statements that grant `action`, flattened to text for matching. */
function resourcesFor(statements: Statement[], action: string): string[] {
  return statements
    .filter((s) => actionsOf(s).includes(action))
    .flatMap(resourcesOf)
    .map((r) => JSON.stringify(r));
}

function nagViolations(pack: NagPack, app: App): string[] {
  const report = pack.validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}: ${v.description}`),
  );
}

describe('LooprailStack', () => {
  const { app, stack, template } = synth();

  it('has one on-demand table with PITR, encryption, TTL, the two GSIs, deletion protection and RETAIN', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
          { AttributeName: 'gsi1sk', AttributeType: 'S' },
          { AttributeName: 'status', AttributeType: 'S' },
        ]),
        GlobalSecondaryIndexes: [
          {
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            // Runs by status across agents (no Scan anywhere): written only when a run changes status.
            IndexName: 'runsByStatus',
            KeySchema: [
              { AttributeName: 'status', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        DeletionProtectionEnabled: true,
      },
    });
  });

  it('has the 7 step functions, the 2 trigger functions, the API function, the approval function and the reminder sweep on nodejs22.x arm64 with the runtime environment', () => {
    template.resourceCountIs('AWS::Lambda::Function', 12);
    const functions = template.findResources('AWS::Lambda::Function');
    for (const fn of Object.values(functions)) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        LoggingConfig: { LogFormat: 'JSON' },
        Environment: {
          Variables: {
            LOOPRAIL_TABLE_NAME: { Ref: logicalId(stack, stack.table.table) },
            LOOPRAIL_TRACE_TTL_DAYS: '90',
            LOOPRAIL_SECRETS: 'aws',
            LOOPRAIL_LOG_LEVEL: 'info',
          },
        },
      });
      // Source maps ship as files but are parsed only when debugging (-c looprail:debug=true).
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBeUndefined();
      expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
  });

  it('parses the source maps at start only with -c looprail:debug=true', () => {
    const debugApp = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [], 'looprail:debug': 'true' } });
    const debugStack = new LooprailStack(debugApp, 'Looprail', { env: ENV, catalog: CATALOG });
    const functions = Object.values(Template.fromStack(debugStack).findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(12);
    for (const fn of functions) expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
  });

  it('gives each function a timeout within its ASL state timeout (15 min for model, tool and verify)', () => {
    const functions = template.toJSON().Resources;
    for (const name of STEP_NAMES) {
      const fn = functions[logicalId(stack, stack.steps.steps[name].function)].Properties;
      const state = ASL.States[name]!;
      expect(state.Parameters?.FunctionName).toBe(`\${${name}FunctionArn}`);
      if (state.TimeoutSeconds !== undefined) expect(fn.Timeout, name).toBeLessThanOrEqual(state.TimeoutSeconds);
    }
    for (const name of ['ModelStep', 'ToolStep', 'Verify'] as const) {
      expect(functions[logicalId(stack, stack.steps.steps[name].function)].Properties.Timeout).toBe(900);
      expect(ASL.States[name]!.TimeoutSeconds).toBe(900);
    }
  });

  it('gives every function its own log group with retention, and every log group a retention', () => {
    const groups = template.findResources('AWS::Logs::LogGroup');
    expect(Object.keys(groups)).toHaveLength(14); // 12 functions + the state machine + the API's access log
    for (const group of Object.values(groups)) {
      expect(group.Properties.RetentionInDays).toBe(30);
      expect(group.DeletionPolicy).toBe('Retain');
    }
    for (const handler of allHandlers(stack)) {
      const fn = template.toJSON().Resources[logicalId(stack, handler.function)];
      expect(fn.Properties.LoggingConfig.LogGroup).toEqual({ Ref: logicalId(stack, handler.logGroup) });
    }
  });

  it('substitutes every ASL placeholder with its function, in a STANDARD state machine with logs ALL and X-Ray', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0]!.Properties;
    expect(machine).toMatchObject({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: {
              LogGroupArn: { 'Fn::GetAtt': [logicalId(stack, stack.agentRun.logGroup), 'Arn'] },
            },
          },
        ],
      },
    });
    expect(machine.DefinitionS3Location).toBeDefined();

    const placeholders = aslPlaceholders(ASL_TEXT);
    expect(placeholders).toEqual(STEP_NAMES.map((name) => `${name}FunctionArn`).sort());
    expect(Object.keys(machine.DefinitionSubstitutions).sort()).toEqual(placeholders);
    let definition = ASL_TEXT;
    for (const name of STEP_NAMES) {
      const value = machine.DefinitionSubstitutions[`${name}FunctionArn`];
      expect(value).toEqual({ 'Fn::GetAtt': [logicalId(stack, stack.steps.steps[name].function), 'Arn'] });
      definition = definition.replaceAll(
        `\${${name}FunctionArn}`,
        `arn:aws:lambda:eu-west-1:123456789012:function:${name}`,
      );
    }
    expect(definition).not.toContain('${');
  });

  it('lets the state machine invoke exactly the 7 functions, unqualified', () => {
    const policy = stack.agentRun.role.node.tryFindChild('DefaultPolicy') as { node: { defaultChild?: unknown } };
    const statements = template.toJSON().Resources[logicalId(stack, policy)].Properties.PolicyDocument
      .Statement as Statement[];
    const invoke = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
    expect(invoke).toHaveLength(1);
    expect(actionsOf(invoke[0]!)).toEqual(['lambda:InvokeFunction']);
    expect(resourcesOf(invoke[0]!)).toEqual(
      expect.arrayContaining(
        STEP_NAMES.map((name) => ({ 'Fn::GetAtt': [logicalId(stack, stack.steps.steps[name].function), 'Arn'] })),
      ),
    );
    expect(resourcesOf(invoke[0]!)).toHaveLength(7);
    expect(
      statements.flatMap(actionsOf).filter((a) => a.startsWith('dynamodb:') || a.startsWith('secretsmanager:')),
    ).toEqual([]);
  });

  it('lets the state machine start its own executions, and wait for a delegated child one (startExecution.sync:2)', () => {
    const policy = stack.agentRun.role.node.tryFindChild('DefaultPolicy') as { node: { defaultChild?: unknown } };
    const statements = template.toJSON().Resources[logicalId(stack, policy)].Properties.PolicyDocument
      .Statement as Statement[];
    const own = (kind: string, name: string) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${kind}:eu-west-1:123456789012:${name}`]],
    });
    expect(statements).toEqual(
      expect.arrayContaining([
        {
          Effect: 'Allow',
          Action: 'states:StartExecution',
          Resource: own('states', 'stateMachine:Looprail-agent-run'),
        },
        {
          Effect: 'Allow',
          Action: ['states:DescribeExecution', 'states:StopExecution'],
          Resource: own('states', 'execution:Looprail-agent-run:*'),
        },
        {
          Effect: 'Allow',
          Action: ['events:DescribeRule', 'events:PutRule', 'events:PutTargets'],
          Resource: own('events', 'rule/StepFunctionsGetEventsForStepFunctionsExecutionRule'),
        },
      ]),
    );
    // Nothing of another state machine's, and no execution of any other.
    expect(
      statements
        .flatMap(actionsOf)
        .filter((a) => a.startsWith('states:'))
        .sort(),
    ).toEqual(['states:DescribeExecution', 'states:StartExecution', 'states:StopExecution']);
  });

  it('grants every step exactly the item actions on the table and its gsi1 index, and no step the status index', () => {
    const table = logicalId(stack, stack.table.table);
    for (const name of STEP_NAMES) {
      const statements = statementsOf(stack, template, name).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('dynamodb:')),
      );
      expect(statements, name).toHaveLength(1);
      expect(actionsOf(statements[0]!).sort(), name).toEqual([...RUN_TABLE_DATA_ACTIONS].sort());
      expect(resourcesOf(statements[0]!), name).toEqual([
        { 'Fn::GetAtt': [table, 'Arn'] },
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/gsi1']] },
      ]);
    }
  });

  it('lets exactly the functions that list runs across agents (the HTTP API, the reminder sweep) query the status index, by name', () => {
    const table = logicalId(stack, stack.table.table);
    const statusIndex = JSON.stringify({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/runsByStatus']],
    });
    const handlers = [...allHandlers(stack), stack.approvals.handler, stack.approvals.reminders];
    const listers = handlers.filter((handler) =>
      handlerStatements(stack, template, handler).some((s) =>
        resourcesOf(s).some((r) => JSON.stringify(r) === statusIndex),
      ),
    );
    expect(listers).toEqual([stack.httpApi.handler, stack.approvals.reminders]);
    for (const handler of listers) {
      const statements = handlerStatements(stack, template, handler);
      expect(resourcesFor(statements, 'dynamodb:Query')).toContain(statusIndex);
      // The records behind the index's keys are read by BatchGetItem, on the table.
      expect(resourcesFor(statements, 'dynamodb:BatchGetItem')).toContain(
        JSON.stringify({ 'Fn::GetAtt': [table, 'Arn'] }),
      );
    }
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toContain('/index/*');
    expect(policies).not.toContain('dynamodb:Scan');
  });

  it('grants each step its own log group only, and no managed policies anywhere', () => {
    for (const name of STEP_NAMES) {
      const logs = statementsOf(stack, template, name).filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
      expect(logs, name).toHaveLength(1);
      expect(resourcesOf(logs[0]!)).toEqual([
        { 'Fn::GetAtt': [logicalId(stack, stack.steps.steps[name].logGroup), 'Arn'] },
      ]);
    }
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('gives each agent and sub-agent its own role, which alone reads its own secrets and calls its own models', () => {
    const secret = (name: string) =>
      expect.stringContaining(`:secretsmanager:eu-west-1:123456789012:secret:${name}-??????`);
    const expected: Record<string, { secrets: string[]; bedrock: number }> = {
      reporter: { secrets: [], bedrock: 1 },
      triage: { secrets: ['anthropic-api-key', 'github-mcp-token'], bedrock: 1 },
      'triage.reviewer': { secrets: [], bedrock: 1 },
    };
    expect([...stack.steps.identities.roles.keys()]).toEqual(Object.keys(expected));
    for (const [identity, { secrets, bedrock }] of Object.entries(expected)) {
      const statements = identityStatements(stack, template, identity);
      const granted = resourcesFor(statements, 'secretsmanager:GetSecretValue');
      expect(granted, identity).toHaveLength(secrets.length);
      expect(granted, identity).toEqual(expect.arrayContaining(secrets.map(secret)));
      expect(resourcesFor(statements, 'bedrock:InvokeModel'), identity).toEqual(
        bedrock
          ? [expect.stringContaining(':bedrock:eu-west-1::foundation-model/anthropic.claude-sonnet-4-6-v1:0')]
          : [],
      );
      expect(
        statements
          .flatMap(actionsOf)
          .every((a) => a === 'secretsmanager:GetSecretValue' || a === 'bedrock:InvokeModel'),
        identity,
      ).toBe(true);
    }
    template.hasResourceProperties('AWS::IAM::Role', { RoleName: 'Looprail-eu-west-1-agent-triage.reviewer' });
  });

  it('lets exactly the steps that act for agents assume their roles, and gives the steps no secret or model of their own', () => {
    const agentRoles = [...stack.steps.identities.roles.values()].map((role) => logicalId(stack, role));
    for (const name of STEP_NAMES) {
      const statements = statementsOf(stack, template, name);
      // RequestApproval reads one secret, the approval links' signing key, and no agent's.
      const own = statements.filter(
        (st) =>
          !(
            name === 'RequestApproval' &&
            JSON.stringify(st.Resource) === JSON.stringify({ Ref: logicalId(stack, stack.approvals.signingSecret) })
          ),
      );
      expect(
        own.flatMap(actionsOf).filter((a) => a.startsWith('secretsmanager:') || a.startsWith('bedrock:')),
        name,
      ).toEqual([]);
      const assumable = statements.filter((st) => actionsOf(st).includes('sts:AssumeRole')).flatMap(resourcesOf);
      const acting = ['StartRun', 'ModelStep', 'ToolStep', 'Verify'].includes(name);
      expect(assumable.map((r) => (r as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]).sort(), name).toEqual(
        acting ? [...agentRoles].sort() : [],
      );
    }
    for (const role of stack.steps.identities.roles.values()) {
      const trust = template.toJSON().Resources[logicalId(stack, role)].Properties.AssumeRolePolicyDocument
        .Statement as Array<{ Principal: { AWS: unknown } }>;
      const principals = trust.flatMap((st) => [st.Principal.AWS].flat()).map((p) => JSON.stringify(p));
      expect(principals).toHaveLength(4);
      for (const step of ['StartRun', 'ModelStep', 'ToolStep', 'Verify'] as const) {
        expect(
          principals.some((p) => p.includes(logicalId(stack, stack.steps.steps[step].role))),
          step,
        ).toBe(true);
      }
    }
  });

  it("tells the acting steps where the agents' roles are", () => {
    for (const name of ['StartRun', 'ModelStep', 'ToolStep', 'Verify'] as const) {
      const fn = template.toJSON().Resources[logicalId(stack, stack.steps.steps[name].function)];
      expect(JSON.stringify(fn.Properties.Environment.Variables.LOOPRAIL_AGENT_ROLE_PREFIX), name).toContain(
        ':role/Looprail-eu-west-1-agent-',
      );
    }
  });

  it('does not let the approval step resume executions (only the approval HTTP handler may)', () => {
    const senders = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, policy]) =>
      /states:Send|states:\*/.test(JSON.stringify(policy)),
    );
    expect(senders.map(([id]) => id)).toEqual([
      logicalId(stack, stack.approvals.handler.role.node.tryFindChild('DefaultPolicy') as never),
    ]);
    // It mails the signed links: it reads the signing key (and, with approvalSender in context, may use SES).
    expect(
      statementsOf(stack, template, 'RequestApproval')
        .flatMap(actionsOf)
        .filter((a) => !a.startsWith('dynamodb:') && !a.startsWith('logs:'))
        .sort(),
    ).toEqual(['events:PutEvents', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
  });

  it('hands executions that end outside the state machine (aborted, timed out, runtime failure) to FailRun', () => {
    const { stack, template } = synth();
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        // Which endings: test/infra/run-sweeper.test.ts, against real-looking events.
        detail: Match.objectLike({ stateMachineArn: [{ Ref: logicalId(stack, stack.agentRun.stateMachine) }] }),
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(stack, stack.steps.steps.FailRun.function), 'Arn'] },
          InputTransformer: Match.objectLike({
            InputPathsMap: { 'detail-name': '$.detail.name', 'detail-status': '$.detail.status' },
          }),
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [logicalId(stack, stack.steps.steps.FailRun.function), 'Arn'] },
    });
  });

  it('has a spend dashboard and an alarm per daily agent or team budget, to an encrypted topic', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'Looprail-budget-triage-daily',
      Namespace: 'Looprail',
      MetricName: 'CostMicros',
      Dimensions: [{ Name: 'Agent', Value: 'triage' }],
      Statistic: 'Sum',
      Period: 86_400,
      Threshold: 10_000_000,
      AlarmActions: [{ Ref: logicalId(stack, stack.spend.topic) }],
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  it('publishes runtime events to the default bus from exactly the functions that emit them, with source looprail only', () => {
    const publishers: HandlerFunction[] = [
      ...(['StartRun', 'ModelStep', 'RequestApproval', 'FinishRun', 'FailRun'] as const).map(
        (name) => stack.steps.steps[name],
      ),
      stack.httpApi.handler,
    ];
    const defaultBus = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:eu-west-1:123456789012:event-bus/default']],
    };
    for (const handler of allHandlers(stack)) {
      const path = handler.node.path;
      const publishes = publishers.includes(handler);
      const put = handlerStatements(stack, template, handler).filter((st) =>
        actionsOf(st).some((a) => a.startsWith('events:')),
      );
      const fn = template.toJSON().Resources[logicalId(stack, handler.function)];
      if (publishes) {
        expect(put, path).toEqual([
          {
            Effect: 'Allow',
            Action: 'events:PutEvents',
            Resource: defaultBus,
            Condition: {
              'ForAllValues:StringEquals': { 'events:source': 'looprail' },
              Null: { 'events:source': 'false' },
            },
          },
        ]);
        expect(fn.Properties.Environment.Variables.LOOPRAIL_EVENT_BUS, path).toBe('default');
      } else {
        expect(put, path).toEqual([]);
        expect(fn.Properties.Environment.Variables.LOOPRAIL_EVENT_BUS, path).toBeUndefined();
      }
    }
  });

  it('tells the functions that start runs which state machine, and gives the steps none', () => {
    const machine = { Ref: logicalId(stack, stack.agentRun.stateMachine) };
    for (const handler of allHandlers(stack)) {
      const fn = template.toJSON().Resources[logicalId(stack, handler.function)];
      const starts = [...stack.triggers.handlers, stack.httpApi.handler].includes(handler);
      expect(fn.Properties.Environment.Variables.LOOPRAIL_STATE_MACHINE_ARN, handler.node.path).toEqual(
        starts ? machine : undefined,
      );
    }
  });

  it('gives the trigger functions the table, StartExecution on the state machine, their log group and nothing else', () => {
    const table = logicalId(stack, stack.table.table);
    for (const handler of stack.triggers.handlers) {
      const statements = handlerStatements(stack, template, handler);
      expect(statements.map((st) => actionsOf(st)[0]!.split(':')[0]).sort(), handler.node.path).toEqual([
        'dynamodb',
        'logs',
        'states',
      ]);
      expect(statements.find((st) => actionsOf(st).includes('states:StartExecution'))).toEqual({
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: { Ref: logicalId(stack, stack.agentRun.stateMachine) },
      });
      expect(resourcesFor(statements, 'dynamodb:PutItem')).toContain(JSON.stringify({ 'Fn::GetAtt': [table, 'Arn'] }));
    }
  });

  it('outputs the API URL', () => {
    template.hasOutput('ApiUrl', { Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }) });
    expect(JSON.stringify(template.toJSON().Outputs.ApiUrl.Value)).toContain(logicalId(stack, stack.httpApi.api));
  });

  it('passes cdk-nag AwsSolutions and the looprail pack with no unacknowledged error or warning', () => {
    expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
    expect(nagViolations(new LooprailChecks(), app)).toEqual([]);
  });

  it('acknowledges only specific findings, each with a reason', () => {
    const acknowledged: Array<{ id: string; reason: string; path: string }> = [];
    for (const construct of app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== 'aws:cdk:acknowledged-rules') continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>))
          acknowledged.push({ id, reason, path: construct.node.path });
      }
    }
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { id, reason, path } of acknowledged) {
      expect(reason.length, `${id} at ${path}`).toBeGreaterThan(40);
      // IAM5 findings are acknowledged one resource at a time, never the whole rule.
      if (id.includes('IAM5')) expect(id, path).toMatch(/IAM5\[Resource::.+\]$/);
      // Unauthenticated routes: only the OpenAPI document, the signed webhooks and the signed approval links.
      if (id.includes('APIG4'))
        expect(path).toMatch(
          /^Looprail\/Http\/Api\/(GET--openapi\.json|POST--webhooks--\{agent\}|(GET|HEAD|POST)--approvals--\{approvalId\})$/,
        );
      // The link-signing key is not rotated: rotation would invalidate links already mailed.
      if (id.includes('SMG4')) expect(path).toBe('Looprail/Approvals/SigningKey');
      expect(id, path).toMatch(/AwsSolutions-(L1|APIG4|SMG4|IAM5\[.+\])$/);
    }
  });
});

describe('LooprailStack options', () => {
  it('takes log retention, trace TTL and log level from props', () => {
    const { template } = synth({ logRetentionDays: 90, traceTtlDays: 7, logLevel: 'debug' });
    for (const group of Object.values(template.findResources('AWS::Logs::LogGroup')))
      expect(group.Properties.RetentionInDays).toBe(90);
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        LOOPRAIL_TRACE_TTL_DAYS: '7',
        LOOPRAIL_LOG_LEVEL: 'debug',
      });
    }
  });

  it('skips bundling for its own stack with bundle: false, without the app-wide context', () => {
    const stack = new LooprailStack(new App({ context: CDK_CONTEXT }), 'Looprail', {
      env: ENV,
      catalog: CATALOG,
      bundle: false,
    });
    expect(stack.bundlingRequired).toBe(false);
    Template.fromStack(stack).resourceCountIs('AWS::Lambda::Function', 12);
  });

  it('wires the trigger functions to one schedule per scheduled agent and one rule per event-triggered agent', () => {
    const triggered = (name: string, trigger: unknown): AgentEntry => ({
      ...agentEntry({ name, model: 'claude-bedrock' }),
      trigger: TriggerSpec.parse(trigger),
    });
    const catalog: Catalog = {
      ...CATALOG,
      agents: {
        ...CATALOG.agents,
        morning: triggered('morning', { schedule: { cron: '0 6 * * 1-5', timezone: 'Europe/Paris' } }),
        hourly: triggered('hourly', { schedule: 'rate(1 hour)' }),
        'on-deploy': triggered('on-deploy', { event: { pattern: { source: ['acme.deploy'] } } }),
        'on-push': triggered('on-push', { webhook: { secret: 'gh-hook', scheme: 'github' } }),
      },
      secrets: [...CATALOG.secrets, 'gh-hook'],
    };
    const { app, stack, template } = synth({ catalog });
    const scheduleArn = { 'Fn::GetAtt': [logicalId(stack, stack.triggers.schedule.function), 'Arn'] };
    const eventArn = { 'Fn::GetAtt': [logicalId(stack, stack.triggers.event.function), 'Arn'] };
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    expect([...stack.triggers.triggers.schedules.keys()]).toEqual(['hourly', 'morning']);
    for (const agent of ['hourly', 'morning']) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        Target: Match.objectLike({
          Arn: scheduleArn,
          Input: `{"agent":"${agent}","scheduledTime":"<aws.scheduler.scheduled-time>"}`,
        }),
      });
    }
    expect([...stack.triggers.triggers.rules.keys()]).toEqual(['on-deploy']);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['acme.deploy'] },
      Targets: [Match.objectLike({ Arn: eventArn })],
    });
    expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
    expect(nagViolations(new LooprailChecks(), app)).toEqual([]);
  });

  it('refuses a retention CloudWatch Logs does not offer, and a TTL that is not whole days', () => {
    expect(() => synth({ logRetentionDays: 31 })).toThrow(
      /logRetentionDays: expected one of 1, 3, 5, 7, 14, 30, .* \(got 31\)/,
    );
    expect(() => synth({ traceTtlDays: 0 })).toThrow(/traceTtlDays: expected a whole number of days/);
    expect(() => synth({ traceTtlDays: 1.5 })).toThrow(/traceTtlDays/);
  });

  it('grants nothing extra when the catalog has no secrets and no bedrock models', () => {
    const empty: Catalog = { ...CATALOG, agents: {}, models: {}, servers: {}, secrets: [] };
    const { stack, template } = synth({ catalog: empty });
    // The one secret any stack has: the approval links' signing key, which the stack generates.
    const text = JSON.stringify(template.findResources('AWS::IAM::Policy')).replaceAll(
      `{"Action":["secretsmanager:DescribeSecret","secretsmanager:GetSecretValue"],"Effect":"Allow","Resource":{"Ref":"${logicalId(stack, stack.approvals.signingSecret)}"}}`,
      '',
    );
    expect(text).not.toContain('secretsmanager');
    expect(text).not.toContain('bedrock');
    expect(text).not.toContain('sts:AssumeRole');
  });

  it("grants openai keys to the agent using them, a stdio server's env secrets to its host alone, and follows a bedrock model to its own region", () => {
    const catalog: Catalog = {
      ...CATALOG,
      agents: {
        coder: agentEntry({ name: 'coder', model: 'gpt', fallback_model: 'nova', mcp_servers: ['files'] }),
        local: agentEntry({ name: 'local', model: 'local', mcp_servers: ['github'] }),
      },
      models: {
        ...CATALOG.models,
        gpt: { name: 'gpt', declaration: { provider: 'openai', secret: 'openai-key', price } },
        local: { name: 'local', declaration: { provider: 'openai', base_url: 'http://localhost:8000/v1', price } },
        scripted: { name: 'scripted', declaration: { provider: 'scripted', script: 'scripts/x.yaml', price } },
        nova: bedrockModel('nova', 'amazon.nova-pro-v1:0', 'us-east-1'),
      },
      servers: {
        ...CATALOG.servers,
        files: {
          name: 'files',
          transport: {
            type: 'stdio',
            command: 'mcp-server-filesystem',
            args: [],
            env: {},
            env_secrets: { GITHUB_TOKEN: 'files-token' },
          },
          timeouts: {},
          tools: {},
        },
      },
    };
    const { app, stack, template } = synth({ catalog });
    const coder = identityStatements(stack, template, 'coder');
    expect(resourcesFor(coder, 'secretsmanager:GetSecretValue')).toEqual([
      expect.stringContaining('secret:openai-key-??????'),
    ]);
    const readers = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([, policy]) => JSON.stringify(stack.resolve(policy.Properties.PolicyDocument)).includes('files-token'))
      .map(([id]) => id);
    expect(readers).toEqual([expect.stringMatching(/^McpHostsHostfilesRoleDefaultPolicy/)]);
    expect(resourcesFor(coder, 'bedrock:InvokeModel')).toEqual([
      expect.stringContaining(':bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0'),
    ]);
    expect(resourcesFor(identityStatements(stack, template, 'local'), 'secretsmanager:GetSecretValue')).toEqual([
      expect.stringContaining('secret:github-mcp-token-??????'),
    ]);
    expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
  });

  it('grants a cross-Region inference profile and its model in any Region, acknowledging exactly that wildcard', () => {
    const catalog: Catalog = {
      ...CATALOG,
      agents: { p: agentEntry({ name: 'p', model: 'profile' }) },
      models: { profile: bedrockModel('profile', 'us.anthropic.claude-sonnet-4-6-v1:0') },
    };
    const { app, stack, template } = synth({ catalog });
    const resources = resourcesFor(identityStatements(stack, template, 'p'), 'bedrock:InvokeModel');
    expect(resources).toHaveLength(2);
    expect(resources).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          ':bedrock:eu-west-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6-v1:0',
        ),
        expect.stringContaining(':bedrock:*::foundation-model/anthropic.claude-sonnet-4-6-v1:0'),
      ]),
    );
    expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
  });

  it('passes an ARN model id through as the resource', () => {
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123';
    const { stack, template } = synth({
      catalog: {
        ...CATALOG,
        agents: { a: agentEntry({ name: 'a', model: 'app' }) },
        models: { app: bedrockModel('app', arn) },
      },
    });
    expect(resourcesFor(identityStatements(stack, template, 'a'), 'bedrock:InvokeModel')).toEqual([
      JSON.stringify(arn),
    ]);
  });

  it('uses a customer-managed key when given one, and grants the steps encrypt/decrypt on it', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'KeyTest', { env: ENV });
    const key = new Key(stack, 'Key', { enableKeyRotation: true });
    const table = new RunTable(stack, 'Table', { encryptionKey: key });
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    table.grantReadWriteItems(role);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: {
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as never), 'Arn'] },
      },
    });
    const policy = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policy).toContain('kms:Decrypt');
    expect(policy).toContain('kms:Encrypt');
  });
});

describe('AgentStateMachine', () => {
  const arns = Object.fromEntries(
    STEP_NAMES.map((name) => [`${name}FunctionArn`, `arn:aws:lambda:eu-west-1:123456789012:function:${name}`]),
  );

  it('refuses a placeholder without a function, and a function without a placeholder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'looprail-asl-'));
    const file = join(dir, 'run.asl.json');
    writeFileSync(file, ASL_TEXT.replace('${FailRunFunctionArn}', '${CleanupFunctionArn}'));
    const stack = new Stack(new App(), 'Asl');
    expect(() => new AgentStateMachine(stack, 'Machine', { functionArns: arns, definitionFile: file })).toThrow(
      /no function for \$\{CleanupFunctionArn\}; no placeholder for FailRunFunctionArn/,
    );
  });
});

describe('catalogBundling', () => {
  it('inlines a small catalog as a define of its JSON text', () => {
    const bundling = catalogBundling(CATALOG, false);
    expect(bundling.inject).toBeUndefined();
    expect(JSON.parse(JSON.parse(bundling.define![CATALOG_GLOBAL]!))).toEqual(CATALOG);
  });

  it('hands a catalog too large for one command-line argument over as an injected module', async () => {
    const big: Catalog = {
      ...CATALOG,
      skills: {
        huge: { name: 'huge', version: '1', description: 'big', content: 'x"\n$`'.repeat(40_000), sha256: '0' },
      },
    };
    const bundling = catalogBundling(big, true);
    expect(bundling.define).toBeUndefined();
    const file = bundling.inject![0]!;
    expect(existsSync(file)).toBe(true);
    const module = (await import(file)) as Record<string, string>;
    expect(JSON.parse(module[CATALOG_GLOBAL]!)).toEqual(big);
  });
});
