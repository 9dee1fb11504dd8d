import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { DefinitionBody, Pass, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks, type NagPack } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { LooprailApprovals, type LooprailApprovalsProps } from '../../infra/constructs/approvals.ts';
import { HandlerFunction } from '../../infra/constructs/handler-function.ts';
import { functionEnvironment } from '../../functions/_shared/env-contract.ts';
import { LooprailHttpApi } from '../../infra/constructs/http-api.ts';
import { RunTable } from '../../infra/constructs/run-table.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';
import { CDK_CONTEXT, EMPTY_CATALOG } from '../support/stack-fixtures.ts';

const CATALOG = EMPTY_CATALOG;

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

function synth(props: Partial<LooprailApprovalsProps> = {}) {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Approve', { env: { account: '123456789012', region: 'eu-west-1' } });
  const table = new RunTable(stack, 'Table');
  const stateMachine = new StateMachine(stack, 'Machine', {
    definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'Nothing')),
  });
  const http = new LooprailHttpApi(stack, 'Http', { catalog: CATALOG, table, stateMachine });
  const requestApproval = new HandlerFunction(stack, 'RequestApproval', {
    entry: 'functions/approval/request-approval.ts',
    description: 'RequestApproval',
    memorySize: 256,
    timeout: Duration.seconds(60),
    environment: functionEnvironment('runtime', { tableName: table.tableName }, {}),
  });
  const failRun = new HandlerFunction(stack, 'FailRun', {
    entry: 'functions/run/fail-run.ts',
    description: 'FailRun',
    memorySize: 256,
    timeout: Duration.seconds(60),
    environment: functionEnvironment('runtime', { tableName: table.tableName }, {}),
  });
  const approvals = new LooprailApprovals(stack, 'Approvals', {
    api: http.api,
    publicUrl: http.url,
    table,
    stateMachine,
    requestApproval,
    mailingSteps: [failRun],
    sender: 'looprail@example.com',
    fallbackApprovers: ['ops@example.com'],
    ...props,
  });
  const template = Template.fromStack(stack);
  const id = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as never);
  const statementsOf = (fn: HandlerFunction) =>
    (
      template.toJSON().Resources[id(fn.role.node.tryFindChild('DefaultPolicy') as never)].Properties.PolicyDocument
        .Statement as Statement[]
    ).map((st) => ({ ...st, Action: [st.Action].flat().sort() }));
  return { app, stack, http, approvals, requestApproval, failRun, stateMachine, template, id, statementsOf };
}

function nagViolations(pack: NagPack, app: App): string[] {
  return pack
    .validateScope(app)
    .violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}: ${v.description}`),
    )
    .filter((finding) => finding.includes(' at Approve/Approvals/'));
}

describe('LooprailApprovals', () => {
  const { app, http, approvals, requestApproval, failRun, stateMachine, template, id, statementsOf } = synth();

  it('adds the signed-link pages without an authorizer and the operator decision behind IAM, all to the approval handler', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties as { RouteKey: string; AuthorizationType: string; Target: unknown },
    );
    const ours = routes.filter((r) => r.RouteKey.includes('approvals'));
    expect(ours.map((r) => [r.RouteKey, r.AuthorizationType]).sort()).toEqual([
      ['GET /approvals/{approvalId}', 'NONE'],
      ['HEAD /approvals/{approvalId}', 'NONE'],
      ['POST /approvals/{approvalId}', 'NONE'],
      ['POST /v1/approvals/{approvalId}/decision', 'AWS_IAM'],
    ]);
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationUri: { 'Fn::GetAtt': [id(approvals.handler.function), 'Arn'] },
      PayloadFormatVersion: '2.0',
    });
    expect(http.routes.size).toBeGreaterThan(0);
  });

  it('lets only the approval handler resume executions, and only of the agent-run state machine', () => {
    const send = (fn: HandlerFunction) =>
      statementsOf(fn).filter((st) => st.Action.some((a) => a.startsWith('states:Send')));
    expect(send(approvals.handler)).toEqual([
      {
        Effect: 'Allow',
        Action: ['states:SendTaskFailure', 'states:SendTaskSuccess'],
        Resource: { Ref: id(stateMachine) },
      },
    ]);
    const everyPolicy = Object.entries(template.findResources('AWS::IAM::Policy'));
    const withSend = everyPolicy
      .filter(([, policy]) => JSON.stringify(policy).includes('states:Send'))
      .map(([logicalId]) => logicalId);
    expect(withSend).toEqual([id(approvals.handler.role.node.tryFindChild('DefaultPolicy') as never)]);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('states:*');
  });

  it('generates the signing key as a secret, read by the handler, RequestApproval and the reminder sweep only, named in their environment', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ PasswordLength: 48 }),
    });
    const readers = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([, policy]) => JSON.stringify(policy).includes(id(approvals.signingSecret)))
      .map(([logicalId]) => logicalId)
      .sort();
    expect(readers).toEqual(
      [approvals.handler, requestApproval, approvals.reminders]
        .map((fn) => id(fn.role.node.tryFindChild('DefaultPolicy') as never))
        .sort(),
    );
    for (const fn of [approvals.handler, requestApproval, approvals.reminders]) {
      const variables = template.toJSON().Resources[id(fn.function)].Properties.Environment.Variables as Record<
        string,
        unknown
      >;
      expect(JSON.stringify(variables.LOOPRAIL_APPROVAL_SIGNING_SECRET)).toContain(id(approvals.signingSecret));
      expect(JSON.stringify(variables.LOOPRAIL_PUBLIC_URL)).toContain(id(http.api));
      expect(variables.LOOPRAIL_APPROVERS).toBe('ops@example.com');
    }
  });

  it('mails from the sender in context: ses:SendEmail on that identity only, for RequestApproval only', () => {
    const ses = statementsOf(requestApproval).filter((st) => st.Action.some((a) => a.startsWith('ses:')));
    expect(ses).toHaveLength(1);
    expect(ses[0]!.Action).toEqual(['ses:SendEmail']);
    expect(JSON.stringify(ses[0]!.Resource)).toContain(':ses:eu-west-1:123456789012:identity/looprail@example.com');
    expect(JSON.stringify(ses[0]!.Resource)).toContain(':ses:eu-west-1:123456789012:identity/example.com');
    expect(JSON.stringify(ses[0]!.Resource)).not.toContain('*');
    expect(
      statementsOf(approvals.handler)
        .flatMap((st) => st.Action)
        .filter((a) => a.startsWith('ses:')),
    ).toEqual([]);
    expect(
      template.toJSON().Resources[id(requestApproval.function)].Properties.Environment.Variables.LOOPRAIL_MAIL_FROM,
    ).toBe('looprail@example.com');
  });

  it('lets FailRun mail "approval expired" from the same sender: the URL and sender in its environment, ses:SendEmail on that identity, no signing key', () => {
    const ses = statementsOf(failRun).filter((st) => st.Action.some((a) => a.startsWith('ses:')));
    expect(ses).toEqual(statementsOf(requestApproval).filter((st) => st.Action.some((a) => a.startsWith('ses:'))));
    const variables = template.toJSON().Resources[id(failRun.function)].Properties.Environment.Variables as Record<
      string,
      unknown
    >;
    expect(variables.LOOPRAIL_MAIL_FROM).toBe('looprail@example.com');
    expect(JSON.stringify(variables.LOOPRAIL_PUBLIC_URL)).toContain(id(http.api));
    expect(variables.LOOPRAIL_APPROVAL_SIGNING_SECRET).toBeUndefined();
    expect(JSON.stringify(statementsOf(failRun))).not.toContain(id(approvals.signingSecret));
  });

  it('sweeps reminders and escalations every five minutes with a function that can read and write items, read the key and mail from the sender, and nothing else', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [id(approvals.reminders.function), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [id(approvals.reminders.function), 'Arn'] },
    });
    const actions = statementsOf(approvals.reminders).flatMap((st) => st.Action);
    expect(actions.filter((a) => a.startsWith('states:'))).toEqual([]);
    expect(actions).toContain('dynamodb:UpdateItem');
    expect(actions).toContain('dynamodb:Query');
    // Paused runs across agents come from the status index (the sweep has no Scan): Query on it, by name.
    const onStatusIndex = (fn: typeof approvals.reminders) =>
      statementsOf(fn).filter((st) => JSON.stringify(st.Resource).includes('/index/runsByStatus'));
    expect(onStatusIndex(approvals.reminders).map((st) => st.Action)).toEqual([['dynamodb:Query']]);
    expect(onStatusIndex(approvals.handler)).toEqual([]);
    expect(actions).toContain('secretsmanager:GetSecretValue');
    const ses = statementsOf(approvals.reminders).filter((st) => st.Action.some((a) => a.startsWith('ses:')));
    expect(ses).toHaveLength(1);
    expect(ses[0]!.Action).toEqual(['ses:SendEmail']);
    expect(JSON.stringify(ses[0]!.Resource)).toContain(':ses:eu-west-1:123456789012:identity/looprail@example.com');
    expect(JSON.stringify(ses[0]!.Resource)).not.toContain('*');
    const variables = template.toJSON().Resources[id(approvals.reminders.function)].Properties.Environment
      .Variables as Record<string, unknown>;
    expect(variables.LOOPRAIL_MAIL_FROM).toBe('looprail@example.com');
    expect(JSON.stringify(variables.LOOPRAIL_TABLE_NAME)).toContain('Table');
  });

  it('passes cdk-nag AwsSolutions and the looprail pack', () => {
    expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
    expect(nagViolations(new LooprailChecks(), app)).toEqual([]);
  });

  it('warns when no sender is in context (and grants no SES), and refuses a sender that is not an address', () => {
    const {
      stack,
      requestApproval: noMail,
      failRun: noExpiryMail,
      approvals: noSender,
      statementsOf: statements,
    } = synth({ sender: undefined });
    Annotations.fromStack(stack).hasWarning(
      '/Approve/Approvals',
      Match.stringLikeRegexp('no approvalSender in CDK context'),
    );
    expect(
      statements(noMail)
        .flatMap((st) => st.Action)
        .filter((a) => a.startsWith('ses:')),
    ).toEqual([]);
    expect(
      statements(noExpiryMail)
        .flatMap((st) => st.Action)
        .filter((a) => a.startsWith('ses:')),
    ).toEqual([]);
    expect(
      statements(noSender.reminders)
        .flatMap((st) => st.Action)
        .filter((a) => a.startsWith('ses:')),
    ).toEqual([]);
    expect(() => synth({ sender: 'Looprail <looprail@example.com>' })).toThrow(
      /approvalSender: expected a plain email address/,
    );
  });
});
