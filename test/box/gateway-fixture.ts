import { inject } from 'vitest';
import { type AwsGateway, type AwsGatewayOptions, startAwsGateway } from './aws-gateway.ts';
import { IamAuthority } from './iam.ts';
import type { BoxAccount, BoxResourcePolicy, BoxRole, PolicyDocument } from './model.ts';

/**
 * A small hand-built "template" for the gateway's tests: real policy documents (not allow-lists),
 * written as CDK writes them, with the edge cases the box must get right.
 */

export const ACCOUNT: BoxAccount = {
  accountId: '111122223333',
  region: 'eu-west-1',
  partition: 'aws',
  stackName: 'BoxTest',
};

const A = `${ACCOUNT.region}:${ACCOUNT.accountId}`;
export const TABLE = 'BoxTest-RunTable-1ABCDEF';
export const OTHER_TABLE = 'BoxTest-OtherTable-2ABCDEF';
export const TABLE_ARN = `arn:aws:dynamodb:${A}:table/${TABLE}`;
export const OTHER_TABLE_ARN = `arn:aws:dynamodb:${A}:table/${OTHER_TABLE}`;
export const STATE_MACHINE = `arn:aws:states:${A}:stateMachine:AgentRun`;
export const BUS = `arn:aws:events:${A}:event-bus/default`;
export const FUNCTION = `arn:aws:lambda:${A}:function:BoxTest-Broker`;
export const CLUSTER = `arn:aws:ecs:${A}:cluster/sandboxes`;
export const role = (name: string) => `arn:aws:iam::${ACCOUNT.accountId}:role/${name}`;

const policy = (...statements: Record<string, unknown>[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: statements,
});
const lambdaTrust = policy({
  Effect: 'Allow',
  Principal: { Service: 'lambda.amazonaws.com' },
  Action: 'sts:AssumeRole',
});

/** A step function's role: items and one named index, the signing key, events from its source, mail from its domain. */
const stepRole: BoxRole = {
  logicalId: 'StepRole',
  arn: role('BoxTest-StepRole'),
  name: 'BoxTest-StepRole',
  managedPolicyArns: ['arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
  trustPolicy: lambdaTrust,
  identityPolicies: [
    {
      name: 'StepRoleDefaultPolicy',
      document: policy(
        {
          Effect: 'Allow',
          Action: [
            'dynamodb:GetItem',
            'dynamodb:PutItem',
            'dynamodb:UpdateItem',
            'dynamodb:Query',
            'dynamodb:ConditionCheckItem',
          ],
          Resource: [TABLE_ARN, `${TABLE_ARN}/index/byAgent`],
        },
        { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: OTHER_TABLE_ARN },
        {
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
          Resource: `arn:aws:secretsmanager:${A}:secret:looprail/signing-key-??????`,
        },
        {
          Effect: 'Allow',
          Action: 'events:PutEvents',
          Resource: BUS,
          Condition: { 'ForAllValues:StringEquals': { 'events:source': ['looprail'] } },
        },
        { Effect: 'Allow', Action: 'ses:SendEmail', Resource: `arn:aws:ses:${A}:identity/example.com` },
        { Effect: 'Allow', Action: 'states:StartExecution', Resource: STATE_MACHINE },
        { Effect: 'Allow', Action: 'states:DescribeExecution', Resource: `arn:aws:states:${A}:execution:AgentRun:*` },
        { Effect: 'Allow', Action: ['states:SendTaskSuccess', 'states:SendTaskFailure'], Resource: STATE_MACHINE },
        { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: FUNCTION },
        {
          Effect: 'Allow',
          Action: 'bedrock:InvokeModel',
          Resource: [
            `arn:aws:bedrock:${A}:inference-profile/eu.anthropic.claude-sonnet-4-6-v1:0`,
            'arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-6-v1:0',
          ],
        },
        { Effect: 'Allow', Action: 'sts:AssumeRole', Resource: role('BoxTest-AccountTrustRole') },
        { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::box-archives/archives/*' },
        {
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Resource: 'arn:aws:s3:::box-archives',
          Condition: { StringLike: { 's3:prefix': 'archives/*' } },
        },
      ),
    },
  ],
};

/** The events rule of the stack as CDK writes it (StringEquals on a multivalued key): see the events test. */
const publisherRole: BoxRole = {
  logicalId: 'PublisherRole',
  arn: role('BoxTest-PublisherRole'),
  name: 'BoxTest-PublisherRole',
  managedPolicyArns: [],
  trustPolicy: lambdaTrust,
  identityPolicies: [
    {
      name: 'PublisherPolicy',
      document: policy(
        {
          Effect: 'Allow',
          Action: 'events:PutEvents',
          Resource: BUS,
          Condition: { StringEquals: { 'events:source': 'looprail' } },
        },
        { Effect: 'Allow', Action: 'dynamodb:Query', Resource: `${TABLE_ARN}/index/*` },
        {
          Effect: 'Allow',
          Action: 'bedrock:InvokeModel',
          Resource: `arn:aws:bedrock:${ACCOUNT.region}::foundation-model/anthropic.claude-sonnet-4-6-v1:0`,
        },
        { Effect: 'Deny', Action: 'dynamodb:Query', Resource: `${TABLE_ARN}/index/secret` },
        // The skills publisher's grant: items whose partition key is a skill's, nothing else.
        {
          Effect: 'Allow',
          Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
          Resource: TABLE_ARN,
          Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SKILL#*'] } },
        },
      ),
    },
  ],
};

/** The sandbox broker: RunTask on its task definition in its cluster, PassRole to ECS tasks only. */
const brokerRole: BoxRole = {
  logicalId: 'BrokerRole',
  arn: role('BoxTest-BrokerRole'),
  name: 'BoxTest-BrokerRole',
  managedPolicyArns: [],
  trustPolicy: lambdaTrust,
  identityPolicies: [
    {
      name: 'BrokerPolicy',
      document: policy(
        {
          Effect: 'Allow',
          Action: 'ecs:RunTask',
          Resource: `arn:aws:ecs:${A}:task-definition/sandbox:*`,
          Condition: { ArnEquals: { 'ecs:cluster': CLUSTER } },
        },
        {
          Effect: 'Allow',
          Action: 'ecs:TagResource',
          Resource: `arn:aws:ecs:${A}:task/sandboxes/*`,
          Condition: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
        },
        {
          Effect: 'Allow',
          Action: ['ecs:DescribeTasks', 'ecs:StopTask'],
          Resource: `arn:aws:ecs:${A}:task/sandboxes/*`,
          Condition: { ArnEquals: { 'ecs:cluster': CLUSTER } },
        },
        {
          Effect: 'Allow',
          Action: 'iam:PassRole',
          Resource: role('BoxTest-SandboxExecutionRole'),
          Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        },
      ),
    },
  ],
};

/** A per-agent role: its trust policy names the step role's ARN (enough within one account). */
const agentRole: BoxRole = {
  logicalId: 'AgentRole',
  arn: role('BoxTest-AgentRole'),
  name: 'BoxTest-AgentRole',
  managedPolicyArns: [],
  trustPolicy: policy({ Effect: 'Allow', Principal: { AWS: stepRole.arn }, Action: 'sts:AssumeRole' }),
  identityPolicies: [
    { name: 'AgentPolicy', document: policy({ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE_ARN }) },
  ],
};

/** Trusts the account: a caller needs its own identity policy too. */
const accountTrustRole: BoxRole = {
  ...agentRole,
  logicalId: 'AccountTrustRole',
  arn: role('BoxTest-AccountTrustRole'),
  name: 'BoxTest-AccountTrustRole',
  trustPolicy: policy({
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${ACCOUNT.accountId}:root` },
    Action: 'sts:AssumeRole',
  }),
};

const executionRole: BoxRole = {
  ...agentRole,
  logicalId: 'Exec',
  arn: role('BoxTest-SandboxExecutionRole'),
  name: 'BoxTest-SandboxExecutionRole',
};

export const ROLES = { stepRole, publisherRole, brokerRole, agentRole, accountTrustRole, executionRole };

/** The function's permission for Scheduler, from its own schedule group only. */
export const RESOURCE_POLICIES: BoxResourcePolicy[] = [
  {
    resourceArn: FUNCTION,
    document: policy({
      Effect: 'Allow',
      Principal: { Service: 'scheduler.amazonaws.com' },
      Action: 'lambda:InvokeFunction',
      Resource: FUNCTION,
      Condition: { ArnLike: { 'aws:SourceArn': `arn:aws:scheduler:${A}:schedule/boxtest/*` } },
    }),
  },
];

export const OPERATOR = {
  name: 'operator',
  policies: [
    {
      name: 'Doctor',
      document: policy(
        {
          Effect: 'Allow',
          Action: ['ses:GetAccount', 'scheduler:ListSchedules', 'secretsmanager:ListSecrets'],
          Resource: '*',
        },
        {
          Effect: 'Allow',
          Action: ['ses:GetEmailIdentity', 'scheduler:GetSchedule', 'secretsmanager:*'],
          Resource: '*',
        },
      ),
    },
  ],
};

export function testAuthority(): IamAuthority {
  return new IamAuthority({
    account: ACCOUNT,
    roles: Object.values(ROLES),
    resourcePolicies: RESOURCE_POLICIES,
    users: [OPERATOR],
  });
}

/** A gateway over the test authority, DynamoDB Local from the global setup. */
export async function testGateway(
  options: Partial<AwsGatewayOptions> = {},
): Promise<{ iam: IamAuthority; gateway: AwsGateway; dynamodbUrl: string }> {
  const iam = options.iam ?? testAuthority();
  const dynamodbUrl = inject('dynamodbEndpoint');
  const gateway = await startAwsGateway({ dynamodbUrl, ...options, iam });
  return { iam, gateway, dynamodbUrl };
}

/** SDK client configuration for a caller holding these credentials. */
export function clientConfig(
  gateway: AwsGateway,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
) {
  return { endpoint: gateway.url, region: ACCOUNT.region, credentials, maxAttempts: 1 };
}
