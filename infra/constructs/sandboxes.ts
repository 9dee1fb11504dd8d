import { Annotations, Aws, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpoint,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpointAwsService,
  Peer,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
  type SubnetSelection,
} from 'aws-cdk-lib/aws-ec2';
import { Repository, CfnPullThroughCacheRule } from 'aws-cdk-lib/aws-ecr';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  CfnTaskDefinition,
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargatePlatformVersion,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
  Protocol,
} from 'aws-cdk-lib/aws-ecs';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { AnyPrincipal, PolicyStatement, Role, ServicePrincipal, type IRole } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnFirewallDomainList, CfnFirewallRuleGroup, CfnFirewallRuleGroupAssociation } from 'aws-cdk-lib/aws-route53resolver';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { DnsRecordType, PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import {
  AGENT_MOUNT,
  EGRESS_PROXY_PORT,
  ENV_AGENT_IDLE_SECONDS,
  ENV_AGENT_MAX_SECONDS,
  ENV_EGRESS_ALLOWLISTS,
  ENV_SANDBOX_BROKER,
  ENV_SANDBOX_CLUSTER,
  ENV_SANDBOX_EGRESS_PROXY,
  ENV_SANDBOX_REPOS,
  ENV_SANDBOX_REPOS_BUCKET,
  ENV_SANDBOX_SECURITY_GROUPS,
  ENV_SANDBOX_SIGNING_SECRET,
  ENV_SANDBOX_SUBNETS,
  ENV_SANDBOX_TASK_FAMILY_PREFIX,
  WORKSPACE_CONTAINER,
} from '../../adapters/sandbox/aws-contract.ts';
import { AGENT_PORT } from '../../adapters/sandbox/protocol.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import type { SandboxSpec } from '../../core/definitions/sandbox.ts';
import { acknowledgeWildcardResource } from '../nag/acknowledge.ts';
import { stageFolderArchive } from '../sandbox-image/repo-archive.ts';
import { stageSandboxImage } from '../sandbox-image/stage.ts';
import { HandlerFunction } from './handler-function.ts';
import type { RunTable } from './run-table.ts';
import type { LogLevel } from './step-functions.ts';

/**
 * Run sandboxes on AWS (issue 10): one ECS Fargate task per run that asked for one, in a
 * VPC of its own with no route out. What each part may do:
 *
 * - sandbox tasks: no task role (no AWS credentials at all), an execution role that pulls
 *   their images and writes their log group and nothing else; their security group takes
 *   connections from the broker only, and lets out only HTTPS to the VPC endpoints (image
 *   pulls, logs) and, for an allowlist, the egress proxy's port;
 * - the broker (a Lambda in the VPC): the only thing that reaches a sandbox, and the only
 *   one that starts, finds and stops them; it reads the signing key and the org's
 *   repository archives, and nothing of the run table or the agents' secrets;
 * - the steps that use sandboxes (ToolStep, FinishRun, FailRun) may only invoke the broker;
 * - the sweeper stops the tasks of runs that ended without FinishRun/FailRun reaching them;
 * - the egress proxy (only with some network allowlist) is the one way out, and lets each
 *   sandbox reach its own agent's hosts only.
 */

/** The agents that declare `sandbox:`, by name. */
export function sandboxAgents(catalog: Catalog): Array<{ name: string; spec: SandboxSpec }> {
  return Object.values(catalog.agents)
    .filter((entry) => entry.spec.sandbox !== undefined)
    .map((entry) => ({ name: entry.spec.name, spec: entry.spec.sandbox! }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** `{ agent: [host, …] }` of the agents whose sandbox network is an allowlist: what the egress proxy enforces. */
export function egressAllowlists(catalog: Catalog): Record<string, string[]> {
  const lists: Record<string, string[]> = {};
  for (const { name, spec } of sandboxAgents(catalog)) if (spec.network !== 'none') lists[name] = [...spec.network.allow];
  return lists;
}

/**
 * Fargate's task sizes (Linux, platform 1.4): CPU units and the memory (MiB) each allows.
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
 */
const FARGATE_SIZES: ReadonlyArray<{ cpu: number; memory: readonly number[] }> = [
  { cpu: 256, memory: [512, 1024, 2048] },
  { cpu: 512, memory: steps(1024, 4096, 1024) },
  { cpu: 1024, memory: steps(2048, 8192, 1024) },
  { cpu: 2048, memory: steps(4096, 16_384, 1024) },
  { cpu: 4096, memory: steps(8192, 30_720, 1024) },
  { cpu: 8192, memory: steps(16_384, 61_440, 4096) },
  { cpu: 16_384, memory: steps(32_768, 122_880, 8192) },
];

function steps(from: number, to: number, by: number): number[] {
  const out: number[] = [];
  for (let value = from; value <= to; value += by) out.push(value);
  return out;
}

/**
 * The smallest Fargate size with at least the spec's vCPUs and memory (`memory_mb` read as
 * MiB, as ECS counts): both round up, CPU first, so the task is never smaller than asked.
 */
export function fargateSize(agent: string, cpu: number, memoryMb: number): { cpu: number; memoryMiB: number } {
  const cpuUnits = Math.ceil(cpu * 1024 - 1e-9);
  for (const size of FARGATE_SIZES) {
    if (size.cpu < cpuUnits) continue;
    const memory = size.memory.find((mib) => mib >= memoryMb);
    if (memory !== undefined) return { cpu: size.cpu, memoryMiB: memory };
  }
  throw new Error(
    `agent ${agent}: sandbox cpu ${cpu} with memory_mb ${memoryMb} fits no Fargate task size (at most 16 vCPU and 122880 MiB; 16 vCPU needs 32768 MiB or more)`,
  );
}

/** Fargate's ephemeral storage: 20 GiB unless asked for 21 to 200. Undefined: the default is enough. */
export function ephemeralStorageGiB(agent: string, diskMb: number): number | undefined {
  const gib = Math.ceil(diskMb / 1024);
  if (gib > 200) throw new Error(`agent ${agent}: sandbox disk_mb ${diskMb} is more than Fargate's 200 GiB of task storage`);
  return gib <= 20 ? undefined : Math.max(21, gib);
}

/** ECS ulimits are 32-bit integers: a file-size limit (bytes) stops just under 2 GiB. */
const MAX_ULIMIT = 2 ** 31 - 1;

export type ImageSource =
  /** ECR Public: pulled through the stack's cache rule, so the private endpoint serves it. */
  | { kind: 'ecr-public'; repository: string; reference: string }
  /** A private ECR repository (by its registry's account and Region). */
  | { kind: 'ecr'; account: string; region: string; repository: string; reference: string }
  /** Anything else (Docker Hub, ghcr.io, quay.io…): needs internet to pull. */
  | { kind: 'other'; registry: string };

const ECR_REGISTRY = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** Where an image reference (`registry/repository[:tag|@digest]`) is pulled from. */
export function classifyImage(image: string): ImageSource {
  const at = image.indexOf('@');
  let name = at >= 0 ? image.slice(0, at) : image;
  let reference = at >= 0 ? image.slice(at) : '';
  const colon = name.lastIndexOf(':');
  if (!reference && colon > name.lastIndexOf('/')) {
    reference = name.slice(colon);
    name = name.slice(0, colon);
  }
  const slash = name.indexOf('/');
  const first = slash >= 0 ? name.slice(0, slash) : '';
  // Docker's rule: the first part names a registry when it has a dot or a port, or is localhost.
  const registry = first && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
  const repository = registry === 'docker.io' ? name : name.slice(slash + 1);
  if (registry === 'public.ecr.aws') return { kind: 'ecr-public', repository, reference };
  const ecr = ECR_REGISTRY.exec(registry);
  if (ecr) return { kind: 'ecr', account: ecr[1]!, region: ecr[2]!, repository, reference };
  return { kind: 'other', registry };
}

export const DEFAULT_SANDBOX_IDLE_SECONDS = 3600;
export const DEFAULT_SANDBOX_MAX_SECONDS = 86_400;

/** The init container's name and the volume it fills for the workspace container. */
export const INIT_CONTAINER = 'looprail-init';
const AGENT_VOLUME = 'looprail-agent';
/** Where the init image keeps node's binary (the official image) and the bundled agent. */
const INIT_COPY = ['/bin/cp', '/usr/local/bin/node', '/opt/looprail/agent.mjs', `${AGENT_MOUNT}/`];

/** The name of the Cloud Map namespace the egress proxy registers in, and its service. */
export const SANDBOX_NAMESPACE = 'sandbox.looprail.internal';
export const EGRESS_PROXY_SERVICE = 'egress';
export const EGRESS_PROXY_ADDRESS = `${EGRESS_PROXY_SERVICE}.${SANDBOX_NAMESPACE}:${EGRESS_PROXY_PORT}`;

const SANDBOX_SUBNETS = 'Sandboxes';
const PROXY_SUBNETS = 'EgressProxy';

const ECR_PULL_ACTIONS = ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'];
const ENV_REASON =
  'These environment variables are settings (time limits, allowlisted host names, a secret\'s name), never secret values: the sandbox holds no secret, and the proxy reads the signing key from Secrets Manager by name.';
const AUTH_TOKEN_REASON =
  'ecr:GetAuthorizationToken takes no resource (it returns a login to the registry); which images the role may pull is limited by the repository statements beside it.';

// ---------------------------------------------------------------------------------------

export interface SandboxNetworkProps {
  /** Whether the egress proxy's public subnets exist (some agent has a network allowlist). */
  readonly withProxy: boolean;
  /** Hosts the egress proxy must resolve (the allowlists); every other name outside AWS fails to resolve. */
  readonly proxyHosts: string[];
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/**
 * The sandboxes' VPC: two AZs of isolated subnets (no NAT, no internet gateway route) for
 * the sandbox tasks and the broker, reaching AWS only through VPC endpoints; public
 * subnets for the egress proxy alone when there is one. Flow logs record every flow
 * (a rejected one is an escape attempt), and a DNS firewall answers only AWS's names,
 * the proxy's namespace and the allowlists' hosts, so a `network: none` sandbox cannot
 * tunnel data out through DNS queries either (security groups do not filter the VPC
 * resolver).
 */
export class SandboxNetwork extends Construct {
  readonly vpc: Vpc;
  /** Every interface endpoint's: HTTPS in from the parts that need AWS. */
  readonly endpointSecurityGroup: SecurityGroup;
  readonly sandboxSecurityGroup: SecurityGroup;
  readonly brokerSecurityGroup: SecurityGroup;
  readonly s3PrefixListId: string;
  readonly flowLogGroup: LogGroup;
  readonly s3Endpoint: GatewayVpcEndpoint;
  readonly sandboxSubnets: SubnetSelection = { subnetGroupName: SANDBOX_SUBNETS };

  constructor(scope: Construct, id: string, props: SandboxNetworkProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      // An internet gateway only for the proxy's subnets; the sandboxes' route tables never point at it.
      createInternetGateway: props.withProxy,
      subnetConfiguration: [
        { name: SANDBOX_SUBNETS, subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 20 },
        ...(props.withProxy ? [{ name: PROXY_SUBNETS, subnetType: SubnetType.PUBLIC, cidrMask: 28, mapPublicIpOnLaunch: false }] : []),
      ],
    });

    this.flowLogGroup = new LogGroup(this, 'FlowLogs', { retention: props.logRetention, removalPolicy: props.logRemovalPolicy });
    this.vpc.addFlowLog('FlowLog', { destination: FlowLogDestination.toCloudWatchLogs(this.flowLogGroup), trafficType: FlowLogTrafficType.ALL });

    this.endpointSecurityGroup = new SecurityGroup(this, 'Endpoints', {
      vpc: this.vpc,
      allowAllOutbound: false,
      description: 'looprail sandboxes: the VPC interface endpoints (HTTPS in from the sandboxes, the broker and the egress proxy)',
    });
    this.sandboxSecurityGroup = new SecurityGroup(this, 'SandboxTasks', {
      vpc: this.vpc,
      allowAllOutbound: false,
      description: 'looprail sandbox tasks: in from the broker on the agent port only; out to the VPC endpoints and S3 (image pulls, logs) and the egress proxy only',
    });
    this.brokerSecurityGroup = new SecurityGroup(this, 'Broker', {
      vpc: this.vpc,
      allowAllOutbound: false,
      description: 'looprail sandbox broker: out to the sandboxes on the agent port, to the VPC endpoints and S3',
    });

    // The only way in to a sandbox: the broker, on the agent's port. Sandboxes cannot reach one another.
    this.brokerSecurityGroup.connections.allowTo(this.sandboxSecurityGroup, Port.tcp(AGENT_PORT), 'the broker calls the sandbox agent');
    for (const group of [this.sandboxSecurityGroup, this.brokerSecurityGroup]) {
      group.connections.allowTo(this.endpointSecurityGroup, Port.tcp(443), 'HTTPS to the VPC interface endpoints');
    }

    // ECR keeps image layers in S3: the gateway endpoint serves them (and the org's repository
    // archives) to the isolated subnets, and its policy lets nothing else through.
    const s3 = this.vpc.addGatewayEndpoint('S3', { service: GatewayVpcEndpointAwsService.S3, subnets: [this.sandboxSubnets] });
    s3.addToPolicy(
      new PolicyStatement({
        principals: [new AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::prod-${Aws.REGION}-starport-layer-bucket/*`],
      }),
    );
    this.s3Endpoint = s3;
    this.s3PrefixListId = new S3PrefixList(this, 'S3PrefixList', { logRetention: props.logRetention }).prefixListId;
    for (const group of [this.sandboxSecurityGroup, this.brokerSecurityGroup]) {
      group.addEgressRule(Peer.prefixList(this.s3PrefixListId), Port.tcp(443), 'HTTPS to S3 through the gateway endpoint (image layers, repository archives)');
    }

    const services: Array<[string, InterfaceVpcEndpointAwsService]> = [
      ['EcrApi', InterfaceVpcEndpointAwsService.ECR],
      ['EcrDocker', InterfaceVpcEndpointAwsService.ECR_DOCKER],
      ['Logs', InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
      ['Ecs', InterfaceVpcEndpointAwsService.ECS],
      ['SecretsManager', InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ];
    for (const [name, service] of services) {
      const endpoint = this.vpc.addInterfaceEndpoint(name, {
        service,
        subnets: this.sandboxSubnets,
        securityGroups: [this.endpointSecurityGroup],
        open: false,
        privateDnsEnabled: true,
      });
      // Only this account's principals: a sandbox command holding someone else's AWS keys
      // cannot use the endpoints to send data to their account (logs, secrets, images).
      endpoint.addToPolicy(
        new PolicyStatement({
          principals: [new AnyPrincipal()],
          actions: ['*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:PrincipalAccount': stack.account } },
        }),
      );
    }

    new SandboxDnsFirewall(this, 'DnsFirewall', { vpcId: this.vpc.vpcId, hosts: props.proxyHosts });
  }

  /** Lets the S3 endpoint serve these objects (the broker reads the repository archives through it). */
  allowS3Objects(objectArns: string[]): void {
    if (objectArns.length === 0) return;
    this.s3Endpoint.addToPolicy(
      new PolicyStatement({
        principals: [new AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: objectArns,
        conditions: { StringEquals: { 'aws:PrincipalAccount': Stack.of(this).account } },
      }),
    );
  }
}

/**
 * The ID of the Region's S3 prefix list (`com.amazonaws.<region>.s3`), for security group
 * rules to the S3 gateway endpoint. CloudFormation has no attribute for it and the ID
 * differs by Region, so it is read at deploy time with ec2:DescribeManagedPrefixLists
 * (a context lookup would make `cdk synth` need AWS credentials).
 */
class S3PrefixList extends Construct {
  readonly prefixListId: string;

  constructor(scope: Construct, id: string, props: { logRetention: RetentionDays }) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    // Its own role, as HandlerFunction does it: its log group only, instead of AWSLambdaBasicExecutionRole's any.
    const role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com'), description: "Looks up the Region's S3 prefix list for the sandboxes' security groups" });
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    const lookup = new AwsCustomResource(this, 'Lookup', {
      onUpdate: {
        service: 'EC2',
        action: 'describeManagedPrefixLists',
        parameters: { Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${Aws.REGION}.s3`] }] },
        physicalResourceId: PhysicalResourceId.of(`s3-prefix-list-${Aws.REGION}`),
        outputPaths: ['PrefixLists.0.PrefixListId'],
      },
      policy: AwsCustomResourcePolicy.fromStatements([new PolicyStatement({ actions: ['ec2:DescribeManagedPrefixLists'], resources: ['*'] })]),
      installLatestAwsSdk: false,
      logGroup,
      role,
    });
    this.prefixListId = lookup.getResponseField('PrefixLists.0.PrefixListId');
    acknowledgeWildcardResource(lookup, '*', 'ec2:DescribeManagedPrefixLists takes no resource; this read-only call finds the Region\'s S3 prefix list once per deployment.');
  }
}

/**
 * Route 53 Resolver DNS Firewall on the sandboxes' VPC: names under AWS's domain (the
 * endpoints, ECR's layer bucket), the proxy's private namespace and the allowlisted hosts
 * resolve; every other query gets NXDOMAIN.
 */
class SandboxDnsFirewall extends Construct {
  constructor(scope: Construct, id: string, props: { vpcId: string; hosts: string[] }) {
    super(scope, id);
    const names = new Set([`*.${Aws.URL_SUFFIX}`, SANDBOX_NAMESPACE, `*.${SANDBOX_NAMESPACE}`]);
    for (const host of props.hosts) names.add(host.replace(/:\d+$/, ''));
    const allowed = new CfnFirewallDomainList(this, 'Allowed', { domains: [...names] });
    const everything = new CfnFirewallDomainList(this, 'Everything', { domains: ['*'] });
    const rules = new CfnFirewallRuleGroup(this, 'Rules', {
      firewallRules: [
        // A CNAME chain from an allowed name (CDNs) is followed: the allowed name chose it.
        { firewallDomainListId: allowed.attrId, priority: 100, action: 'ALLOW', firewallDomainRedirectionAction: 'TRUST_REDIRECTION_DOMAIN' },
        { firewallDomainListId: everything.attrId, priority: 200, action: 'BLOCK', blockResponse: 'NXDOMAIN' },
      ],
    });
    new CfnFirewallRuleGroupAssociation(this, 'Association', { firewallRuleGroupId: rules.attrId, vpcId: props.vpcId, priority: 1000, name: 'looprail-sandboxes' });
  }
}

// ---------------------------------------------------------------------------------------

export interface SandboxTasksProps {
  readonly catalog: Catalog;
  readonly network: SandboxNetwork;
  /** An agent's task definition family is this plus its name. */
  readonly familyPrefix: string;
  /** ECR repository prefix of the ECR Public pull-through cache rule. */
  readonly cachePrefix: string;
  readonly bundle: boolean;
  readonly projectRoot?: string;
  readonly idleSeconds: number;
  readonly maxSeconds: number;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/**
 * The ECS cluster and one Fargate task definition per agent with `sandbox:`: ARM64 Linux,
 * sized from the spec, no task role, an execution role per agent that pulls that agent's
 * images and writes its log group only. Two containers:
 * - `looprail-init` (our image) copies Node and the sandbox agent into a task volume and exits;
 * - `workspace` (the agent's image) starts once init succeeded and runs the agent from that
 *   volume, mounted read-only, with the spec's process and file-size limits.
 */
export class SandboxTasks extends Construct {
  readonly cluster: Cluster;
  readonly taskDefinitions = new Map<string, CfnTaskDefinition>();
  readonly executionRoles = new Map<string, Role>();
  readonly logGroups = new Map<string, LogGroup>();
  readonly initImage: DockerImageAsset;
  readonly cacheRule?: CfnPullThroughCacheRule;
  readonly cacheRepositories = new Map<string, Repository>();

  constructor(scope: Construct, id: string, props: SandboxTasksProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.cluster = new Cluster(this, 'Cluster', { vpc: props.network.vpc, containerInsightsV2: ContainerInsights.ENABLED });
    this.initImage = new DockerImageAsset(this, 'InitImage', {
      directory: stageSandboxImage('init', { bundle: props.bundle, projectRoot: props.projectRoot }),
      platform: Platform.LINUX_ARM64,
    });

    const agents = sandboxAgents(props.catalog);
    if (agents.some(({ spec }) => classifyImage(spec.image).kind === 'ecr-public')) {
      // The private registry fetches ECR Public images on first pull; the tasks reach it through the endpoints.
      this.cacheRule = new CfnPullThroughCacheRule(this, 'EcrPublicCache', {
        ecrRepositoryPrefix: props.cachePrefix,
        upstreamRegistry: 'ecr-public',
        upstreamRegistryUrl: 'public.ecr.aws',
      });
    }

    for (const { name, spec } of agents) this.addAgent(name, spec, props, stack);
  }

  private addAgent(agent: string, spec: SandboxSpec, props: SandboxTasksProps, stack: Stack): void {
    const size = fargateSize(agent, spec.cpu, spec.memory_mb);
    const storage = ephemeralStorageGiB(agent, spec.disk_mb);
    const suffix = agent.replace(/[^A-Za-z0-9]/g, '');

    const logGroup = new LogGroup(this, `Logs-${suffix}`, { retention: props.logRetention, removalPolicy: props.logRemovalPolicy });
    const role = new Role(this, `ExecutionRole-${suffix}`, {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `Starts the looprail sandbox tasks of agent ${agent}: pulls their images and writes their logs, nothing else`,
    });
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    const repositories = [this.initImage.repository.repositoryArn];
    const image = this.workspaceImage(agent, spec.image, stack);
    if (image.repositoryArn) repositories.push(image.repositoryArn);
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ECR_PULL_ACTIONS, resources: repositories }));
    if (image.cacheRepositoryArn) {
      // The first pull of a tag imports it from ECR Public into the (pre-created) repository.
      role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecr:BatchImportUpstreamImage'], resources: [image.cacheRepositoryArn] }));
    }
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    acknowledgeWildcardResource(role, '*', AUTH_TOKEN_REASON);

    const logs = (prefix: string): CfnTaskDefinition.LogConfigurationProperty => ({
      logDriver: 'awslogs',
      options: { 'awslogs-group': logGroup.logGroupName, 'awslogs-region': stack.region, 'awslogs-stream-prefix': prefix },
    });
    const fileSizeLimit = Math.min(spec.disk_mb * 1024 * 1024, MAX_ULIMIT);
    const task = new CfnTaskDefinition(this, `Task-${suffix}`, {
      family: `${props.familyPrefix}${agent}`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(size.cpu),
      memory: String(size.memoryMiB),
      runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
      ...(storage === undefined ? {} : { ephemeralStorage: { sizeInGiB: storage } }),
      // No taskRoleArn: a sandbox holds no AWS credentials (its metadata endpoint has none to give).
      executionRoleArn: role.roleArn,
      volumes: [{ name: AGENT_VOLUME }],
      containerDefinitions: [
        {
          name: INIT_CONTAINER,
          image: this.initImage.imageUri,
          essential: false,
          entryPoint: INIT_COPY,
          readonlyRootFilesystem: true,
          mountPoints: [{ sourceVolume: AGENT_VOLUME, containerPath: AGENT_MOUNT, readOnly: false }],
          logConfiguration: logs('init'),
        },
        {
          name: WORKSPACE_CONTAINER,
          image: image.uri,
          essential: true,
          dependsOn: [{ containerName: INIT_CONTAINER, condition: 'SUCCESS' }],
          entryPoint: [`${AGENT_MOUNT}/node`, `${AGENT_MOUNT}/agent.mjs`],
          // Root, so the agent can run each command under limits of its own and clean up after it.
          user: '0',
          // Commands install packages, write caches and temp files anywhere an image expects:
          // the root filesystem stays writable here, bounded by the task's storage and fsize.
          readonlyRootFilesystem: false,
          mountPoints: [{ sourceVolume: AGENT_VOLUME, containerPath: AGENT_MOUNT, readOnly: true }],
          portMappings: [{ containerPort: AGENT_PORT, protocol: 'tcp' }],
          environment: [
            { name: ENV_AGENT_IDLE_SECONDS, value: String(props.idleSeconds) },
            { name: ENV_AGENT_MAX_SECONDS, value: String(props.maxSeconds) },
          ],
          // nproc binds every user the agent runs commands as (the kernel exempts uid 0 itself);
          // fsize caps any one file at the disk size; no core dumps.
          ulimits: [
            { name: 'nproc', softLimit: spec.max_processes, hardLimit: spec.max_processes },
            { name: 'fsize', softLimit: fileSizeLimit, hardLimit: fileSizeLimit },
            { name: 'core', softLimit: 0, hardLimit: 0 },
          ],
          linuxParameters: {
            // An init process reaps what killed commands leave behind.
            initProcessEnabled: true,
            // Nothing a workspace needs: raw sockets, device nodes, chroot, file capabilities, audit.
            capabilities: { drop: ['NET_RAW', 'MKNOD', 'SYS_CHROOT', 'SETFCAP', 'AUDIT_WRITE', 'NET_BIND_SERVICE'] },
          },
          logConfiguration: logs('workspace'),
        },
      ],
    });
    Validations.of(task).acknowledge({ id: 'AwsSolutions-ECS2', reason: ENV_REASON });
    this.taskDefinitions.set(agent, task);
    this.executionRoles.set(agent, role);
    this.logGroups.set(agent, logGroup);
  }

  /** The image the workspace container runs, and what its execution role must be allowed to pull it. */
  private workspaceImage(agent: string, image: string, stack: Stack): { uri: string; repositoryArn?: string; cacheRepositoryArn?: string } {
    const source = classifyImage(image);
    if (/alpine/.test(image)) {
      Annotations.of(this).addWarning(`agent ${agent}: sandbox image ${image} looks musl-based (Alpine); the sandbox agent runs the official Node binary, which needs glibc (Debian, Ubuntu, Amazon Linux)`);
    }
    if (source.kind === 'ecr-public') {
      const repository = this.cacheRepository(source.repository);
      return {
        uri: `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${repository.repositoryName}${source.reference}`,
        repositoryArn: repository.repositoryArn,
        cacheRepositoryArn: repository.repositoryArn,
      };
    }
    if (source.kind === 'ecr') {
      if (!Token.isUnresolved(stack.region) && source.region !== stack.region) {
        Annotations.of(this).addWarning(
          `agent ${agent}: sandbox image ${image} is in ECR in ${source.region}; sandboxes reach ECR only in ${stack.region} (they have no internet): replicate or push it there`,
        );
      }
      return { uri: image, repositoryArn: `arn:${stack.partition}:ecr:${source.region}:${source.account}:repository/${source.repository}` };
    }
    Annotations.of(this).addWarning(
      `agent ${agent}: sandbox image ${image} is on ${source.registry}, which sandboxes cannot reach (they have no internet): push it to ECR in this account and Region, or use an image from public.ecr.aws (pulled through the stack's cache)`,
    );
    return { uri: image };
  }

  /** The cache's repository for one ECR Public repository, created ahead so the grants can name it. */
  private cacheRepository(upstream: string): Repository {
    const existing = this.cacheRepositories.get(upstream);
    if (existing) return existing;
    const prefix = (this.cacheRule!.ecrRepositoryPrefix as string);
    const repository = new Repository(this, `Cache-${upstream.replace(/[^A-Za-z0-9]/g, '')}`, {
      repositoryName: `${prefix}/${upstream}`,
      imageScanOnPush: true,
      // A cache: ECR refills it from ECR Public on the next pull.
      removalPolicy: RemovalPolicy.DESTROY,
      emptyOnDelete: true,
      lifecycleRules: [{ description: 'keep the 20 newest cached images', maxImageCount: 20 }],
    });
    this.cacheRepositories.set(upstream, repository);
    return repository;
  }
}

// ---------------------------------------------------------------------------------------

/**
 * `copy_in.repository.path` folders, packed at synth (infra/sandbox-image/repo-archive.ts)
 * into one .tar.gz per agent and uploaded as assets. The broker reads exactly these
 * objects.
 */
export class SandboxRepositories extends Construct {
  /** `{ agent: object key }`, as LOOPRAIL_SANDBOX_REPOS. */
  readonly keys: Record<string, string> = {};
  readonly assets = new Map<string, Asset>();

  constructor(scope: Construct, id: string, props: { catalog: Catalog; orgDir?: string }) {
    super(scope, id);
    for (const { name, spec } of sandboxAgents(props.catalog)) {
      const path = spec.copy_in.repository?.path;
      if (path === undefined) continue;
      if (!props.orgDir) throw new Error(`agent ${name}: sandbox copy_in.repository.path ${path} needs the org folder (LooprailStack's orgDir)`);
      const root = resolve(props.orgDir);
      const folder = resolve(root, path);
      const inside = relative(root, folder);
      if (inside.startsWith('..') || isAbsolute(inside)) throw new Error(`agent ${name}: sandbox copy_in.repository.path ${path} is outside the org folder`);
      if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`agent ${name}: sandbox copy_in.repository.path ${path} is not a folder in ${root}`);
      const asset = new Asset(this, `Repo-${name.replace(/[^A-Za-z0-9]/g, '')}`, { path: stageFolderArchive(folder) });
      this.assets.set(name, asset);
      this.keys[name] = asset.s3ObjectKey;
    }
  }

  /** The bucket the archives are in (the bootstrap's file assets bucket), when there is any. */
  get bucketName(): string | undefined {
    return [...this.assets.values()][0]?.s3BucketName;
  }

  /** Exactly the archives' object ARNs. */
  get objectArns(): string[] {
    return [...this.assets.values()].map((asset) => `arn:${Aws.PARTITION}:s3:::${asset.s3BucketName}/${asset.s3ObjectKey}`);
  }
}

// ---------------------------------------------------------------------------------------

export interface EgressProxyProps {
  readonly cluster: Cluster;
  readonly network: SandboxNetwork;
  readonly allowlists: Record<string, string[]>;
  readonly signingSecret: Secret;
  readonly bundle: boolean;
  readonly projectRoot?: string;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/**
 * The sandboxes' one way out, when some agent's network is an allowlist: a Fargate service
 * of one task that checks each connection's egress credentials (the agent and sandbox they
 * were derived for) against that agent's allowlist.
 *
 * It runs in public subnets with a public IP, not behind a NAT gateway: a NAT gateway would
 * cost more than the proxy itself and be one more route out of the VPC; here the only
 * route to the internet is in subnets where nothing but the proxy runs, and its security
 * group admits only the sandboxes, on the proxy's port, so its public IP accepts nothing.
 * Sandboxes find it by its Cloud Map name (EGRESS_PROXY_ADDRESS).
 */
export class EgressProxy extends Construct {
  readonly securityGroup: SecurityGroup;
  readonly service: FargateService;
  readonly taskDefinition: FargateTaskDefinition;
  readonly address = EGRESS_PROXY_ADDRESS;

  constructor(scope: Construct, id: string, props: EgressProxyProps) {
    super(scope, id);
    const { network } = props;
    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: network.vpc,
      allowAllOutbound: false,
      description: 'looprail egress proxy: in from the sandboxes on the proxy port only; out to the allowlisted ports',
    });
    network.sandboxSecurityGroup.connections.allowTo(this.securityGroup, Port.tcp(EGRESS_PROXY_PORT), 'sandboxes with an allowlist reach the internet through the proxy');
    this.securityGroup.connections.allowTo(network.endpointSecurityGroup, Port.tcp(443), 'the signing key (Secrets Manager), image pulls and logs through the VPC endpoints');
    const ports = proxyPorts(props.allowlists);
    if (ports === 'any') {
      this.securityGroup.addEgressRule(Peer.anyIpv4(), Port.allTcp(), 'an allowlisted host without a port may be reached on any port (the proxy enforces the hosts)');
    } else {
      for (const port of ports) this.securityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(port), 'an allowlisted host:port (the proxy enforces the hosts)');
    }

    const namespace = new PrivateDnsNamespace(this, 'Namespace', { name: SANDBOX_NAMESPACE, vpc: network.vpc, description: 'looprail sandboxes: the egress proxy' });
    const logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: props.logRemovalPolicy });
    this.taskDefinition = new FargateTaskDefinition(this, 'Task', {
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.ARM64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    // Its task role reads the signing key (to check egress credentials) and nothing else.
    props.signingSecret.grantRead(this.taskDefinition.taskRole);
    const image = new DockerImageAsset(this, 'Image', {
      directory: stageSandboxImage('egress', { bundle: props.bundle, projectRoot: props.projectRoot }),
      platform: Platform.LINUX_ARM64,
    });
    this.taskDefinition.addContainer('proxy', {
      image: ContainerImage.fromDockerImageAsset(image),
      essential: true,
      readonlyRootFilesystem: true,
      user: 'node',
      portMappings: [{ containerPort: EGRESS_PROXY_PORT, protocol: Protocol.TCP }],
      environment: {
        [ENV_EGRESS_ALLOWLISTS]: JSON.stringify(props.allowlists),
        [ENV_SANDBOX_SIGNING_SECRET]: props.signingSecret.secretName,
      },
      healthCheck: {
        command: ['CMD', 'node', '-e', `require('net').connect(${EGRESS_PROXY_PORT},'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))`],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(10),
      },
      logging: LogDrivers.awsLogs({ streamPrefix: 'egress', logGroup }),
    });
    Validations.of(this.taskDefinition).acknowledge({ id: 'AwsSolutions-ECS2', reason: ENV_REASON });
    const pull = this.taskDefinition.obtainExecutionRole();
    acknowledgeWildcardResource(pull, '*', AUTH_TOKEN_REASON);

    this.service = new FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: 1,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      platformVersion: FargatePlatformVersion.LATEST,
      assignPublicIp: true,
      vpcSubnets: { subnetGroupName: PROXY_SUBNETS },
      securityGroups: [this.securityGroup],
      cloudMapOptions: { name: EGRESS_PROXY_SERVICE, cloudMapNamespace: namespace, dnsRecordType: DnsRecordType.A, dnsTtl: Duration.seconds(10) },
    });
  }
}

/**
 * The ports the proxy may connect out to: `any` when some allowlisted host names no port;
 * always 443, which its own image layers (S3, over the internet from its public subnet) need.
 */
export function proxyPorts(allowlists: Record<string, string[]>): number[] | 'any' {
  const ports = new Set<number>([443]);
  for (const host of Object.values(allowlists).flat()) {
    const port = /:(\d+)$/.exec(host)?.[1];
    if (port === undefined) return 'any';
    ports.add(Number(port));
  }
  return [...ports].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------

export interface SandboxesProps {
  readonly catalog: Catalog;
  readonly table: RunTable;
  /** The org folder: `copy_in.repository.path` is relative to it. */
  readonly orgDir?: string;
  readonly logLevel?: LogLevel;
  /** Default: ONE_MONTH. */
  readonly logRetention?: RetentionDays;
  /** Default: RETAIN. */
  readonly logRemovalPolicy?: RemovalPolicy;
  readonly projectRoot?: string;
  /** A sandbox agent with no request for this long exits (its task stops). Default: 3600. */
  readonly idleSeconds?: number;
  /** A sandbox task lives at most this long, busy or not. Default: 86400. */
  readonly maxSeconds?: number;
}

/**
 * Everything run sandboxes need on AWS, for the catalog's agents with `sandbox:`. The
 * stack creates it only when there is at least one; then `connectSteps` lets the steps
 * that open and close sandboxes invoke the broker.
 */
export class Sandboxes extends Construct {
  readonly network: SandboxNetwork;
  readonly tasks: SandboxTasks;
  readonly repositories: SandboxRepositories;
  readonly signingSecret: Secret;
  readonly broker: HandlerFunction;
  readonly sweeper: HandlerFunction;
  readonly sweepRule: Rule;
  readonly proxy?: EgressProxy;
  readonly familyPrefix: string;

  constructor(scope: Construct, id: string, props: SandboxesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const agents = sandboxAgents(props.catalog);
    if (agents.length === 0) throw new Error('Sandboxes: no agent in the catalog declares sandbox:');
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    const bundle = stack.bundlingRequired;
    const allowlists = egressAllowlists(props.catalog);
    const withProxy = Object.keys(allowlists).length > 0;
    const slug = stack.stackName.replace(/[^A-Za-z0-9-]/g, '').slice(0, 64);
    this.familyPrefix = `${slug}-sandbox-`;
    // ECR's cache prefix: 2–30 characters, lower case, unique per registry (one per stack).
    const cachePrefix = `${slug.toLowerCase().replace(/-+/g, '-').slice(0, 19).replace(/^-|-$/g, '') || 'looprail'}-ecr-public`;

    this.network = new SandboxNetwork(this, 'Network', { withProxy, proxyHosts: Object.values(allowlists).flat(), logRetention, logRemovalPolicy });

    // The key the agent and egress tokens derive from: the broker and the proxy read it, nothing else.
    this.signingSecret = new Secret(this, 'SigningKey', {
      description: 'looprail: key the sandbox agent and egress tokens are derived from',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    Validations.of(this.signingSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Every running sandbox holds a token digest derived from this key: rotating it would cut the broker off from them mid-run. Rotate by replacing the secret when no sandbox runs.',
    });

    this.tasks = new SandboxTasks(this, 'Tasks', {
      catalog: props.catalog,
      network: this.network,
      familyPrefix: this.familyPrefix,
      cachePrefix,
      bundle,
      projectRoot: props.projectRoot,
      idleSeconds: props.idleSeconds ?? DEFAULT_SANDBOX_IDLE_SECONDS,
      maxSeconds: props.maxSeconds ?? DEFAULT_SANDBOX_MAX_SECONDS,
      logRetention,
      logRemovalPolicy,
    });
    this.repositories = new SandboxRepositories(this, 'Repositories', { catalog: props.catalog, orgDir: props.orgDir });
    this.network.allowS3Objects(this.repositories.objectArns);

    if (withProxy) {
      this.proxy = new EgressProxy(this, 'EgressProxy', {
        cluster: this.tasks.cluster,
        network: this.network,
        allowlists,
        signingSecret: this.signingSecret,
        bundle,
        projectRoot: props.projectRoot,
        logRetention,
        logRemovalPolicy,
      });
    }

    const shared = { logRetention, logRemovalPolicy, projectRoot: props.projectRoot };
    const clusterArn = this.tasks.cluster.clusterArn;
    this.broker = new HandlerFunction(this, 'Broker', {
      entry: 'functions/sandbox/broker.ts',
      description: 'Starts, reaches and stops run sandboxes (ECS tasks): the only thing that can reach them',
      memorySize: 512,
      // A command may run 840 s (sandbox.command_timeout_seconds), plus the agent's answer.
      timeout: Duration.minutes(15),
      environment: {
        LOOPRAIL_LOG_LEVEL: props.logLevel ?? 'info',
        LOOPRAIL_SECRETS: 'aws',
        [ENV_SANDBOX_CLUSTER]: clusterArn,
        [ENV_SANDBOX_SUBNETS]: this.network.vpc.selectSubnets(this.network.sandboxSubnets).subnetIds.join(','),
        [ENV_SANDBOX_SECURITY_GROUPS]: this.network.sandboxSecurityGroup.securityGroupId,
        [ENV_SANDBOX_TASK_FAMILY_PREFIX]: this.familyPrefix,
        [ENV_SANDBOX_SIGNING_SECRET]: this.signingSecret.secretName,
        ...(this.repositories.bucketName
          ? { [ENV_SANDBOX_REPOS_BUCKET]: this.repositories.bucketName, [ENV_SANDBOX_REPOS]: JSON.stringify(this.repositories.keys) }
          : {}),
        ...(this.proxy ? { [ENV_SANDBOX_EGRESS_PROXY]: this.proxy.address } : {}),
      },
      vpc: { vpc: this.network.vpc, subnets: this.network.sandboxSubnets, securityGroups: [this.network.brokerSecurityGroup] },
      ...shared,
    });
    this.grantBroker(stack, clusterArn);

    this.sweeper = new HandlerFunction(this, 'Sweeper', {
      entry: 'functions/sandbox/sweeper.ts',
      description: 'Stops sandbox tasks whose run has ended (every 5 minutes)',
      memorySize: 256,
      timeout: Duration.minutes(2),
      environment: {
        LOOPRAIL_LOG_LEVEL: props.logLevel ?? 'info',
        LOOPRAIL_TABLE_NAME: props.table.tableName,
        [ENV_SANDBOX_CLUSTER]: clusterArn,
        // The tasks' own lifetime limit: past it (and a margin) the sweeper stops a task whatever its run says.
        [ENV_AGENT_MAX_SECONDS]: String(props.maxSeconds ?? DEFAULT_SANDBOX_MAX_SECONDS),
      },
      ...shared,
    });
    const cluster = { ArnEquals: { 'ecs:cluster': clusterArn } };
    const clusterTasks = this.clusterTasksArn(stack);
    this.sweeper.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecs:ListTasks'], resources: ['*'], conditions: cluster }));
    this.sweeper.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecs:DescribeTasks', 'ecs:StopTask'], resources: [clusterTasks], conditions: cluster }));
    // The run's record only: was it finished?
    this.sweeper.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [props.table.table.tableArn] }));
    acknowledgeWildcardResource(this.sweeper.role, '*', 'ecs:ListTasks authorizes on the cluster only through the ecs:cluster condition (which this statement sets); it has no task resource.');
    acknowledgeWildcardResource(this.sweeper.role, clusterTasks, 'Sandbox task ids are made by RunTask; the statement is limited to the sandbox cluster\'s tasks (and the ecs:cluster condition).');
    this.sweepRule = new Rule(this, 'Sweep', {
      description: 'looprail: stop sandboxes whose run has ended',
      schedule: Schedule.rate(Duration.minutes(5)),
      targets: [new LambdaFunction(this.sweeper.function, { retryAttempts: 0 })],
    });
  }

  /** Lets these steps (ToolStep, FinishRun, FailRun) invoke the broker, and tells them its name. */
  connectSteps(steps: HandlerFunction[]): void {
    for (const step of steps) {
      // The function itself (no version or alias: the steps call it by name).
      step.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.broker.function.functionArn] }));
      step.function.addEnvironment(ENV_SANDBOX_BROKER, this.broker.function.functionName);
    }
  }

  /** The agents' task definition families (any revision). */
  get taskDefinitionArns(): string[] {
    const stack = Stack.of(this);
    return [...this.tasks.taskDefinitions.keys()].map((agent) => stack.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${this.familyPrefix}${agent}:*` }));
  }

  private clusterTasksArn(stack: Stack): string {
    return stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.tasks.cluster.clusterName}/*` });
  }

  private grantBroker(stack: Stack, clusterArn: string): void {
    const role = this.broker.role;
    const cluster = { ArnEquals: { 'ecs:cluster': clusterArn } };
    const clusterTasks = this.clusterTasksArn(stack);
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecs:RunTask'], resources: this.taskDefinitionArns, conditions: cluster }));
    // RunTask tags each task with its sandbox and agent (the sweeper finds them by it).
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecs:TagResource'], resources: [clusterTasks], conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } } }));
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecs:DescribeTasks', 'ecs:StopTask'], resources: [clusterTasks], conditions: cluster }));
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecs:ListTasks'], resources: ['*'], conditions: cluster }));
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [...this.tasks.executionRoles.values()].map((each: IRole) => each.roleArn),
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    this.signingSecret.grantRead(role);
    const archives = this.repositories.objectArns;
    if (archives.length > 0) role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: archives }));

    for (const arn of this.taskDefinitionArns) {
      acknowledgeWildcardResource(role, arn, 'Each RunTask starts the newest revision of a sandbox family; the statement names every family and holds the ecs:cluster condition.');
    }
    acknowledgeWildcardResource(role, clusterTasks, 'Sandbox task ids are made by RunTask; the statements are limited to the sandbox cluster\'s tasks (and the ecs:cluster condition, or RunTask for tagging).');
    acknowledgeWildcardResource(
      role,
      '*',
      'ecs:ListTasks authorizes on the cluster only through the ecs:cluster condition (which its statement sets); and Lambda manages the function\'s VPC network interfaces, whose ids do not exist before it does (the ec2 actions AWSLambdaVPCAccessExecutionRole grants).',
    );
  }
}
