/**
 * The IAM policy a person running `looprail doctor` needs, and nothing more: read the stack,
 * its functions' configuration, the secrets' metadata (never their values), the SES identities
 * and account, the skills registry's items, the schedules; and invoke the MCP host functions,
 * whose listTools changes nothing. Resources are scoped to the stack's generated names
 * (`<stack>-<logical id>-<suffix>`), so one policy serves any deployment of that stack name.
 */

export interface PolicyScope {
  partition?: string;
  region: string;
  accountId: string;
  stackName: string;
}

export function doctorPolicy(scope: PolicyScope) {
  const { region, accountId, stackName } = scope;
  const arn = (service: string, resource: string, global = false) =>
    `arn:${scope.partition ?? 'aws'}:${service}:${global ? '' : region}:${accountId}:${resource}`;
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadTheStack',
        Effect: 'Allow',
        Action: ['cloudformation:DescribeStacks', 'cloudformation:ListStackResources'],
        Resource: arn('cloudformation', `stack/${stackName}/*`),
      },
      {
        Sid: 'ReadTheFunctionsConfiguration',
        Effect: 'Allow',
        Action: 'lambda:GetFunctionConfiguration',
        Resource: arn('lambda', `function:${stackName}-*`),
      },
      {
        Sid: 'AskTheMcpHostsForTheirTools',
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: arn('lambda', `function:${stackName}-McpHostsHost*`),
      },
      {
        Sid: 'SecretsExistNeverTheirValues',
        Effect: 'Allow',
        Action: 'secretsmanager:DescribeSecret',
        Resource: arn('secretsmanager', 'secret:*'),
      },
      {
        Sid: 'TheSenderIsVerified',
        Effect: 'Allow',
        Action: 'ses:GetEmailIdentity',
        Resource: arn('ses', 'identity/*'),
      },
      { Sid: 'TheSesSandbox', Effect: 'Allow', Action: 'ses:GetAccount', Resource: '*' },
      {
        Sid: 'ThePinnedSkillsArePublished',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:Query'],
        Resource: [arn('dynamodb', `table/${stackName}-*`), arn('dynamodb', `table/${stackName}-*/index/*`)],
      },
      {
        Sid: 'TheSchedulesAreEnabled',
        Effect: 'Allow',
        Action: 'scheduler:GetSchedule',
        Resource: arn('scheduler', 'schedule/default/*'),
      },
    ],
  };
}
