import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource } from '../../nag/acknowledge.ts';

/**
 * The ID of the Region's S3 prefix list (`com.amazonaws.<region>.s3`), for security group
 * rules to the S3 gateway endpoint. CloudFormation has no attribute for it and the ID
 * differs by Region, so it is read at deploy time with ec2:DescribeManagedPrefixLists
 * (a context lookup would make `cdk synth` need AWS credentials).
 */
export class S3PrefixList extends Construct {
  readonly prefixListId: string;

  constructor(scope: Construct, id: string, props: { logRetention: RetentionDays }) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role, as HandlerFunction does it: its log group only, instead of AWSLambdaBasicExecutionRole's any.
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: "Looks up the Region's S3 prefix list for the sandboxes' security groups",
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const lookup = new AwsCustomResource(this, 'Lookup', {
      onUpdate: {
        service: 'EC2',
        action: 'describeManagedPrefixLists',
        parameters: { Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${Aws.REGION}.s3`] }] },
        physicalResourceId: PhysicalResourceId.of(`s3-prefix-list-${Aws.REGION}`),
        outputPaths: ['PrefixLists.0.PrefixListId'],
      },
      policy: AwsCustomResourcePolicy.fromStatements([
        new PolicyStatement({ actions: ['ec2:DescribeManagedPrefixLists'], resources: ['*'] }),
      ]),
      installLatestAwsSdk: false,
      logGroup,
      role,
    });
    this.prefixListId = lookup.getResponseField('PrefixLists.0.PrefixListId');
    acknowledgeWildcardResource(
      lookup,
      '*',
      "ec2:DescribeManagedPrefixLists takes no resource; this read-only call finds the Region's S3 prefix list " +
        'once per deployment.',
    );
  }
}
