import type { PolicyDocument } from './model.ts';

/**
 * The few AWS managed policies a CDK stack like this one attaches, inlined (their documents as
 * AWS publishes them), so the box evaluates them like any other identity policy. A role that
 * attaches a managed policy not listed here is refused at construction: the box does not guess.
 */

const LOGS: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: '*',
    },
  ],
};

const VPC_ACCESS: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'AWSLambdaVPCAccessExecutionPermissions',
      Effect: 'Allow',
      Action: [
        'logs:CreateLogGroup',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      Resource: '*',
    },
  ],
};

const ECS_TASK_EXECUTION: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: [
        'ecr:GetAuthorizationToken',
        'ecr:BatchCheckLayerAvailability',
        'ecr:GetDownloadUrlForLayer',
        'ecr:BatchGetImage',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
      ],
      Resource: '*',
    },
  ],
};

/** By the managed policy's path and name (the ARN after `:policy/`), partition-independent. */
const MANAGED: Record<string, PolicyDocument> = {
  'service-role/AWSLambdaBasicExecutionRole': LOGS,
  'service-role/AWSLambdaVPCAccessExecutionRole': VPC_ACCESS,
  'service-role/AmazonECSTaskExecutionRolePolicy': ECS_TASK_EXECUTION,
};

/** The document of an AWS managed policy by its ARN; throws naming the ARN when the box does not know it. */
export function managedPolicyDocument(arn: string, roleArn: string): PolicyDocument {
  const match = /^arn:[^:]+:iam::aws:policy\/(.+)$/.exec(arn);
  const document = match ? MANAGED[match[1]!] : undefined;
  if (!document) {
    throw new Error(
      `${roleArn}: attaches managed policy ${arn}, which the box does not know ` +
        `(known: ${Object.keys(MANAGED).join(', ')}); inline its document in test/box/managed-policies.ts`,
    );
  }
  return document;
}
