import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BoxAccount, BoxResourcePolicy, BoxRole, PolicyDocument } from './model.ts';

/**
 * Reads a synthesized stack as CloudFormation would deploy it: every resource gets a
 * physical name (its own, or one generated the way CloudFormation does), and every
 * intrinsic (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, …) resolves to the values AWS would
 * give. An intrinsic or attribute the box does not know fails loudly, naming the
 * resource, instead of deploying something that is not what AWS would run.
 */

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
}

interface Template {
  Resources: Record<string, TemplateResource>;
  Conditions?: Record<string, unknown>;
  Outputs?: Record<string, { Value: unknown }>;
}

/** How a resource type answers Ref and Fn::GetAtt, from its physical name. */
interface TypeTraits {
  /** The property that names the resource, when the template sets it. */
  nameProperty?: string;
  ref: 'name' | 'arn' | 'id';
  /** An id AWS generates as `<prefix>-<17 hex>` (vpc-, subnet-, sg-, …) instead of a CloudFormation name. */
  idPrefix?: string;
  arn?: (name: string, account: BoxAccount) => string;
  attributes?: Record<string, (name: string, account: BoxAccount, properties: Record<string, unknown>) => string>;
}

const arnOf =
  (service: string, resource: (name: string) => string, global = false) =>
  (name: string, account: BoxAccount) =>
    `arn:${account.partition}:${service}:${global ? '' : account.region}:${account.accountId}:${resource(name)}`;

const TYPES: Record<string, TypeTraits> = {
  'AWS::IAM::Role': { nameProperty: 'RoleName', ref: 'name', arn: arnOf('iam', (name) => `role/${name}`, true) },
  'AWS::IAM::Policy': { nameProperty: 'PolicyName', ref: 'name' },
  'AWS::IAM::ManagedPolicy': {
    nameProperty: 'ManagedPolicyName',
    ref: 'arn',
    arn: arnOf('iam', (name) => `policy/${name}`, true),
  },
  'AWS::Lambda::Function': {
    nameProperty: 'FunctionName',
    ref: 'name',
    arn: arnOf('lambda', (name) => `function:${name}`),
  },
  'AWS::DynamoDB::Table': {
    nameProperty: 'TableName',
    ref: 'name',
    arn: arnOf('dynamodb', (name) => `table/${name}`),
    attributes: { StreamArn: (name, account) => `${arnOf('dynamodb', (n) => `table/${n}`)(name, account)}/stream/box` },
  },
  'AWS::Logs::LogGroup': {
    nameProperty: 'LogGroupName',
    ref: 'name',
    arn: arnOf('logs', (name) => `log-group:${name}:*`),
  },
  'AWS::StepFunctions::StateMachine': {
    nameProperty: 'StateMachineName',
    ref: 'arn',
    arn: arnOf('states', (name) => `stateMachine:${name}`),
    attributes: { Name: (name) => name },
  },
  'AWS::SNS::Topic': {
    nameProperty: 'TopicName',
    ref: 'arn',
    arn: arnOf('sns', (name) => name),
    attributes: { TopicName: (name) => name },
  },
  'AWS::SQS::Queue': {
    nameProperty: 'QueueName',
    ref: 'id',
    arn: arnOf('sqs', (name) => name),
    attributes: { QueueName: (name) => name },
  },
  'AWS::SecretsManager::Secret': {
    nameProperty: 'Name',
    ref: 'arn',
    arn: (name, account) => arnOf('secretsmanager', (n) => `secret:${n}-${suffixOf(n)}`)(name, account),
  },
  'AWS::Events::Rule': { nameProperty: 'Name', ref: 'name', arn: arnOf('events', (name) => `rule/${name}`) },
  'AWS::Scheduler::Schedule': {
    nameProperty: 'Name',
    ref: 'name',
    arn: arnOf('scheduler', (name) => `schedule/default/${name}`),
  },
  'AWS::KMS::Key': { ref: 'id', arn: arnOf('kms', (name) => `key/${name}`) },
  'AWS::S3::Bucket': {
    nameProperty: 'BucketName',
    ref: 'name',
    arn: (name, account) => `arn:${account.partition}:s3:::${name}`,
    attributes: { RegionalDomainName: (name, account) => `${name}.s3.${account.region}.amazonaws.com` },
  },
  'AWS::ApiGatewayV2::Api': {
    ref: 'id',
    attributes: { ApiEndpoint: (id, account) => `https://${id}.execute-api.${account.region}.amazonaws.com` },
  },
  'AWS::ApiGatewayV2::Stage': { nameProperty: 'StageName', ref: 'name' },
  'AWS::ECS::Cluster': { nameProperty: 'ClusterName', ref: 'name', arn: arnOf('ecs', (name) => `cluster/${name}`) },
  'AWS::ECS::TaskDefinition': {
    nameProperty: 'Family',
    ref: 'arn',
    arn: arnOf('ecs', (name) => `task-definition/${name}:1`),
  },
  'AWS::ECR::Repository': {
    nameProperty: 'RepositoryName',
    ref: 'name',
    arn: arnOf('ecr', (name) => `repository/${name}`),
    attributes: {
      RepositoryUri: (name, account) => `${account.accountId}.dkr.ecr.${account.region}.amazonaws.com/${name}`,
    },
  },
  'AWS::ECR::PullThroughCacheRule': { nameProperty: 'EcrRepositoryPrefix', ref: 'name' },
  // The sandboxes' network: ids as EC2 makes them; only the attributes the stack reads.
  'AWS::EC2::VPC': {
    ref: 'id',
    idPrefix: 'vpc',
    attributes: { CidrBlock: (_, __, properties) => String(properties.CidrBlock ?? '10.0.0.0/16') },
  },
  'AWS::EC2::Subnet': { ref: 'id', idPrefix: 'subnet' },
  'AWS::EC2::RouteTable': { ref: 'id', idPrefix: 'rtb' },
  'AWS::EC2::SubnetRouteTableAssociation': { ref: 'id', idPrefix: 'rtbassoc' },
  'AWS::EC2::VPCEndpoint': { ref: 'id', idPrefix: 'vpce' },
  'AWS::EC2::FlowLog': { ref: 'id', idPrefix: 'fl' },
  'AWS::EC2::SecurityGroup': { ref: 'id', idPrefix: 'sg', attributes: { GroupId: (id) => id } },
  'AWS::EC2::SecurityGroupIngress': { ref: 'id', idPrefix: 'sgr' },
  'AWS::EC2::SecurityGroupEgress': { ref: 'id', idPrefix: 'sgr' },
  'AWS::Route53Resolver::FirewallDomainList': { ref: 'id', idPrefix: 'rslvr-fdl', attributes: { Id: (id) => id } },
  'AWS::Route53Resolver::FirewallRuleGroup': { ref: 'id', idPrefix: 'rslvr-frg', attributes: { Id: (id) => id } },
  'AWS::Route53Resolver::FirewallRuleGroupAssociation': { ref: 'id', idPrefix: 'rslvr-frgassoc' },
};

/** Secrets Manager appends six random characters to a secret's name in its ARN; the box derives them from the name. */
export function suffixOf(name: string): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const digest = createHash('sha256').update(name).digest();
  return [...digest.subarray(0, 6)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

export class BoxTemplate {
  readonly resources: Record<string, TemplateResource>;
  readonly account: BoxAccount;
  /** cdk.out: where the assets a resource's S3 key names are found. */
  readonly outDir: string;
  private readonly template: Template;
  private readonly names = new Map<string, string>();
  /** What each custom resource answered in its Create (`Data`), for Fn::GetAtt on it once it has run. */
  readonly customResourceData = new Map<string, Record<string, unknown>>();
  /** Makes generated names unique to one deployment (two boxes share one DynamoDB Local). */
  private readonly deployment: string;

  constructor(account: BoxAccount, template: Template, outDir: string, deployment = '') {
    this.deployment = deployment;
    this.account = account;
    this.template = template;
    this.outDir = outDir;
    this.resources = template.Resources;
  }

  static read(outDir: string, account: BoxAccount, deployment = ''): BoxTemplate {
    const template = JSON.parse(readFileSync(join(outDir, `${account.stackName}.template.json`), 'utf8')) as Template;
    return new BoxTemplate(account, template, outDir, deployment);
  }

  /** Logical ids of the resources of one type, in template order. */
  ofType(type: string): string[] {
    return Object.entries(this.resources)
      .filter(([, resource]) => resource.Type === type)
      .map(([id]) => id);
  }

  /** A resource's properties with every intrinsic resolved. */
  properties(logicalId: string): Record<string, any> {
    const resource = this.resource(logicalId);
    return this.resolve(resource.Properties ?? {}, logicalId) as Record<string, any>;
  }

  output(name: string): string {
    const output = this.template.Outputs?.[name];
    if (!output) throw new Error(`the template has no output ${name}`);
    return String(this.resolve(output.Value, `Outputs.${name}`));
  }

  /** The physical name: the one the template sets, or CloudFormation's `<stack>-<logical id>-<random>`. */
  physicalName(logicalId: string): string {
    const known = this.names.get(logicalId);
    if (known) return known;
    const resource = this.resource(logicalId);
    const traits = TYPES[resource.Type];
    const explicit = traits?.nameProperty ? resource.Properties?.[traits.nameProperty] : undefined;
    const name =
      explicit !== undefined
        ? String(this.resolve(explicit, logicalId))
        : traits?.idPrefix !== undefined
          ? `${traits.idPrefix}-${hexPart(this.deployment + logicalId, 17)}`
          : resource.Type === 'AWS::ApiGatewayV2::Api' || resource.Type === 'AWS::KMS::Key'
            ? randomPart(this.deployment + logicalId, 10).toLowerCase()
            : resource.Type === 'AWS::SecretsManager::Secret'
              ? // CloudFormation names a secret `<logical id>-<12 random>`; CDK's secretName relies on that one dash.
                `${logicalId}-${randomPart(this.deployment + logicalId, 12)}`
              : `${this.account.stackName}-${logicalId.slice(0, 40)}-${randomPart(this.deployment + logicalId, 13)}`;
    this.names.set(logicalId, name);
    return name;
  }

  arn(logicalId: string): string {
    const resource = this.resource(logicalId);
    const traits = TYPES[resource.Type];
    if (!traits?.arn) throw new Error(`${logicalId}: the box cannot make an ARN for ${resource.Type}`);
    return traits.arn(this.physicalName(logicalId), this.account);
  }

  ref(logicalId: string): string {
    const pseudo = this.pseudo(logicalId);
    if (pseudo !== undefined) return pseudo;
    const resource = this.resource(logicalId);
    const traits = TYPES[resource.Type];
    if (!traits) return this.physicalName(logicalId);
    if (traits.ref === 'arn') return this.arn(logicalId);
    if (resource.Type === 'AWS::SQS::Queue')
      return `https://sqs.${this.account.region}.amazonaws.com/${this.account.accountId}/${this.physicalName(logicalId)}`;
    return this.physicalName(logicalId);
  }

  getAtt(logicalId: string, attribute: string): string {
    const resource = this.resource(logicalId);
    const traits = TYPES[resource.Type];
    if (isCustomResource(resource.Type)) return this.customAttribute(logicalId, attribute);
    const special = traits?.attributes?.[attribute];
    if (special) return special(this.physicalName(logicalId), this.account, resource.Properties ?? {});
    if (attribute === 'Arn' && traits?.arn) return this.arn(logicalId);
    throw new Error(`${logicalId}: the box does not know ${resource.Type}.${attribute}`);
  }

  private customAttribute(logicalId: string, attribute: string): string {
    const data = this.customResourceData.get(logicalId);
    if (!data) throw new Error(`${logicalId}: Fn::GetAtt ${attribute} before the custom resource has run`);
    if (!(attribute in data)) {
      const known = Object.keys(data).join(', ') || '(none)';
      throw new Error(`${logicalId}: the custom resource answered no ${attribute} (its Data: ${known})`);
    }
    return String(data[attribute]);
  }

  /** Roles with their identity policies (inline, AWS::IAM::Policy, managed) and trust policy. */
  roles(): BoxRole[] {
    const roles = this.ofType('AWS::IAM::Role').map((logicalId): BoxRole => {
      const properties = this.properties(logicalId);
      const inline = (properties.Policies ?? []) as { PolicyName: string; PolicyDocument: PolicyDocument }[];
      const managed = (properties.ManagedPolicyArns ?? []) as string[];
      return {
        logicalId,
        arn: this.arn(logicalId),
        name: this.physicalName(logicalId),
        identityPolicies: inline.map((policy) => ({ name: policy.PolicyName, document: policy.PolicyDocument })),
        managedPolicyArns: managed.filter((arn) => arn.includes(':aws:policy/')),
        trustPolicy: properties.AssumeRolePolicyDocument as PolicyDocument,
      };
    });
    const byName = new Map(roles.map((role) => [role.name, role]));
    for (const logicalId of [...this.ofType('AWS::IAM::Policy'), ...this.ofType('AWS::IAM::ManagedPolicy')]) {
      const properties = this.properties(logicalId);
      for (const roleName of (properties.Roles ?? []) as string[]) {
        const role = byName.get(roleName);
        if (!role) throw new Error(`${logicalId} attaches to role ${roleName}, which the template does not create`);
        role.identityPolicies.push({ name: this.physicalName(logicalId), document: properties.PolicyDocument });
      }
    }
    return roles;
  }

  /** Resource policies the box evaluates: Lambda permissions, topic, queue and secret policies. */
  resourcePolicies(): BoxResourcePolicy[] {
    const policies: BoxResourcePolicy[] = [];
    for (const logicalId of this.ofType('AWS::Lambda::Permission')) {
      const p = this.properties(logicalId);
      const functionArn = String(p.FunctionName).startsWith('arn:')
        ? String(p.FunctionName)
        : `arn:${this.account.partition}:lambda:${this.account.region}:${this.account.accountId}:function:${p.FunctionName}`;
      const principal = String(p.Principal);
      const condition: Record<string, Record<string, string>> = {};
      if (p.SourceArn) condition.ArnLike = { 'aws:SourceArn': String(p.SourceArn) };
      if (p.SourceAccount) condition.StringEquals = { 'aws:SourceAccount': String(p.SourceAccount) };
      policies.push({
        resourceArn: functionArn,
        document: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: logicalId,
              Effect: 'Allow',
              Principal: principal.includes('.amazonaws.com') ? { Service: principal } : { AWS: principal },
              Action: String(p.Action),
              Resource: functionArn,
              ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
            },
          ],
        },
      });
    }
    const attached: [string, string, string][] = [
      ['AWS::SNS::TopicPolicy', 'Topics', 'PolicyDocument'],
      ['AWS::SQS::QueuePolicy', 'Queues', 'PolicyDocument'],
    ];
    for (const [type, targets, documentKey] of attached) {
      for (const logicalId of this.ofType(type)) {
        const p = this.properties(logicalId);
        for (const target of (p[targets] ?? []) as string[]) {
          const arn = type === 'AWS::SQS::QueuePolicy' ? this.queueArnOfUrl(target) : target;
          policies.push({ resourceArn: arn, document: p[documentKey] as PolicyDocument });
        }
      }
    }
    for (const logicalId of this.ofType('AWS::SecretsManager::ResourcePolicy')) {
      const p = this.properties(logicalId);
      policies.push({ resourceArn: String(p.SecretId), document: p.ResourcePolicy as PolicyDocument });
    }
    return policies;
  }

  private queueArnOfUrl(url: string): string {
    const name = url.split('/').pop() ?? url;
    return `arn:${this.account.partition}:sqs:${this.account.region}:${this.account.accountId}:${name}`;
  }

  /** The source path in cdk.out of the asset a template S3 key names. */
  assetPath(objectKey: string): string {
    const manifest = JSON.parse(readFileSync(join(this.outDir, `${this.account.stackName}.assets.json`), 'utf8')) as {
      files: Record<string, { source: { path: string }; destinations: Record<string, { objectKey: string }> }>;
    };
    for (const file of Object.values(manifest.files)) {
      if (Object.values(file.destinations).some((destination) => destination.objectKey === objectKey))
        return join(this.outDir, file.source.path);
    }
    throw new Error(`no asset in ${this.outDir} has the S3 key ${objectKey}`);
  }

  /** The single-file assets `cdk deploy` publishes to the bootstrap bucket (sandbox repository archives among them). */
  fileAssets(): { bucket: string; key: string; path: string }[] {
    const manifest = JSON.parse(readFileSync(join(this.outDir, `${this.account.stackName}.assets.json`), 'utf8')) as {
      files: Record<
        string,
        {
          source: { path: string; packaging?: string };
          destinations: Record<string, { bucketName: string; objectKey: string }>;
        }
      >;
    };
    return Object.values(manifest.files)
      .filter((file) => file.source.packaging === 'file')
      .flatMap((file) =>
        Object.values(file.destinations).map((destination) => ({
          bucket: destination.bucketName.replace(/\$\{(AWS::\w+)\}/g, (_, name: string) => this.pseudo(name) ?? name),
          key: destination.objectKey,
          path: join(this.outDir, file.source.path),
        })),
      );
  }

  resolve(value: unknown, where: string): unknown {
    if (Array.isArray(value)) return value.map((each) => this.resolve(each, where));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [key, argument] = entries[0] as [string, any];
      if (key === 'Ref') return this.ref(String(argument));
      if (key.startsWith('Fn::')) return this.intrinsic(key, argument, where);
    }
    return Object.fromEntries(entries.map(([key, each]) => [key, this.resolve(each, where)]));
  }

  private intrinsic(name: string, argument: any, where: string): unknown {
    switch (name) {
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = Array.isArray(argument) ? argument : String(argument).split('.');
        return this.getAtt(String(logicalId), String(attribute));
      }
      case 'Fn::Join': {
        const [separator, parts] = argument as [string, unknown[]];
        return (this.resolve(parts, where) as unknown[]).join(separator);
      }
      case 'Fn::Sub':
        return this.substitute(argument, where);
      case 'Fn::Select': {
        const [index, list] = argument as [unknown, unknown];
        return (this.resolve(list, where) as unknown[])[Number(this.resolve(index, where))];
      }
      case 'Fn::Split': {
        const [separator, text] = argument as [string, unknown];
        return String(this.resolve(text, where)).split(separator);
      }
      case 'Fn::If': {
        const [condition, ifTrue, ifFalse] = argument as [string, unknown, unknown];
        return this.resolve(this.condition(condition) ? ifTrue : ifFalse, where);
      }
      case 'Fn::GetAZs':
        return ['a', 'b', 'c'].map((zone) => `${this.account.region}${zone}`);
      case 'Fn::Base64':
        return Buffer.from(String(this.resolve(argument, where))).toString('base64');
      default:
        throw new Error(`${where}: the box does not resolve ${name}`);
    }
  }

  private substitute(argument: unknown, where: string): string {
    const [text, variables] = Array.isArray(argument) ? argument : [argument, {}];
    const resolvedVariables = this.resolve(variables, where) as Record<string, unknown>;
    return String(text).replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
      if (name in resolvedVariables) return String(resolvedVariables[name]);
      const [logicalId, attribute] = name.split('.');
      return attribute ? this.getAtt(String(logicalId), attribute) : this.ref(String(logicalId));
    });
  }

  private condition(name: string): boolean {
    const body = this.template.Conditions?.[name];
    if (body === undefined) throw new Error(`the template has no condition ${name}`);
    return Boolean(this.evaluateCondition(body));
  }

  private evaluateCondition(body: any): unknown {
    if (body === null || typeof body !== 'object') return body;
    const [key, argument] = Object.entries(body)[0] as [string, any];
    if (key === 'Fn::Equals')
      return this.resolve(argument[0], 'Conditions') === this.resolve(argument[1], 'Conditions');
    if (key === 'Fn::Not') return !this.evaluateCondition(argument[0]);
    if (key === 'Fn::And') return (argument as unknown[]).every((each) => this.evaluateCondition(each));
    if (key === 'Fn::Or') return (argument as unknown[]).some((each) => this.evaluateCondition(each));
    if (key === 'Condition') return this.condition(String(argument));
    return this.resolve(body, 'Conditions');
  }

  private pseudo(name: string): string | undefined {
    const { accountId, region, partition, stackName } = this.account;
    const values: Record<string, string> = {
      'AWS::AccountId': accountId,
      'AWS::Region': region,
      'AWS::Partition': partition,
      'AWS::StackName': stackName,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackId': `arn:${partition}:cloudformation:${region}:${accountId}:stack/${stackName}/box`,
      'AWS::NoValue': '',
    };
    return values[name];
  }

  private resource(logicalId: string): TemplateResource {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`the template has no resource ${logicalId}`);
    return resource;
  }
}

export function isCustomResource(type: string): boolean {
  return type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';
}

function hexPart(seed: string, length: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, length);
}

/** CloudFormation's generated suffixes are random; the box derives them from the logical id, so a box is repeatable. */
function randomPart(logicalId: string, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const digest = createHash('sha256').update(logicalId).digest();
  return [...digest.subarray(0, length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}
