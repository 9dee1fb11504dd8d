import { Aws, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  type GatewayVpcEndpoint,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpointAwsService,
  Peer,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
  type SubnetSelection,
} from 'aws-cdk-lib/aws-ec2';
import { AnyPrincipal, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AGENT_PORT } from '../../../adapters/sandbox/protocol.ts';
import { SandboxDnsFirewall } from './dns-firewall.ts';
import { PROXY_SUBNETS, SANDBOX_SUBNETS } from './names.ts';
import { S3PrefixList } from './s3-prefix-list.ts';

export interface SandboxNetworkProps {
  /** Whether the egress proxy's public subnets exist (some agent has a network allowlist). */
  readonly withProxy: boolean;
  /** Hosts the egress proxy must resolve (the allowlists); every other name outside AWS fails to resolve. */
  readonly proxyHosts: string[];
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/** The interface endpoints the isolated subnets reach AWS through, by construct id. */
const INTERFACE_ENDPOINTS: ReadonlyArray<[string, InterfaceVpcEndpointAwsService]> = [
  ['EcrApi', InterfaceVpcEndpointAwsService.ECR],
  ['EcrDocker', InterfaceVpcEndpointAwsService.ECR_DOCKER],
  ['Logs', InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
  ['Ecs', InterfaceVpcEndpointAwsService.ECS],
  ['SecretsManager', InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
];

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
    this.vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      // An internet gateway only for the proxy's subnets; the sandboxes' route tables never point at it.
      createInternetGateway: props.withProxy,
      subnetConfiguration: [
        { name: SANDBOX_SUBNETS, subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 20 },
        ...(props.withProxy
          ? [{ name: PROXY_SUBNETS, subnetType: SubnetType.PUBLIC, cidrMask: 28, mapPublicIpOnLaunch: false }]
          : []),
      ],
    });

    this.flowLogGroup = new LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: FlowLogDestination.toCloudWatchLogs(this.flowLogGroup),
      trafficType: FlowLogTrafficType.ALL,
    });

    this.endpointSecurityGroup = this.securityGroup(
      'Endpoints',
      'looprail sandboxes: the VPC interface endpoints (HTTPS in from the sandboxes, the broker and the egress proxy)',
    );
    this.sandboxSecurityGroup = this.securityGroup(
      'SandboxTasks',
      'looprail sandbox tasks: in from the broker on the agent port only; ' +
        'out to the VPC endpoints and S3 (image pulls, logs) and the egress proxy only',
    );
    this.brokerSecurityGroup = this.securityGroup(
      'Broker',
      'looprail sandbox broker: out to the sandboxes on the agent port, to the VPC endpoints and S3',
    );

    // The only way in to a sandbox: the broker, on the agent's port. Sandboxes cannot reach one another.
    this.brokerSecurityGroup.connections.allowTo(
      this.sandboxSecurityGroup,
      Port.tcp(AGENT_PORT),
      'the broker calls the sandbox agent',
    );
    for (const group of [this.sandboxSecurityGroup, this.brokerSecurityGroup]) {
      group.connections.allowTo(this.endpointSecurityGroup, Port.tcp(443), 'HTTPS to the VPC interface endpoints');
    }

    this.s3Endpoint = this.addS3Endpoint();
    this.s3PrefixListId = new S3PrefixList(this, 'S3PrefixList', { logRetention: props.logRetention }).prefixListId;
    for (const group of [this.sandboxSecurityGroup, this.brokerSecurityGroup]) {
      group.addEgressRule(
        Peer.prefixList(this.s3PrefixListId),
        Port.tcp(443),
        'HTTPS to S3 through the gateway endpoint (image layers, repository archives)',
      );
    }

    this.addInterfaceEndpoints();
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

  /** A security group that lets nothing out until a rule says so. */
  private securityGroup(id: string, description: string): SecurityGroup {
    return new SecurityGroup(this, id, { vpc: this.vpc, allowAllOutbound: false, description });
  }

  /**
   * ECR keeps image layers in S3: the gateway endpoint serves them (and the org's repository
   * archives) to the isolated subnets, and its policy lets nothing else through.
   */
  private addS3Endpoint(): GatewayVpcEndpoint {
    const s3 = this.vpc.addGatewayEndpoint('S3', {
      service: GatewayVpcEndpointAwsService.S3,
      subnets: [this.sandboxSubnets],
    });
    s3.addToPolicy(
      new PolicyStatement({
        principals: [new AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::prod-${Aws.REGION}-starport-layer-bucket/*`],
      }),
    );
    return s3;
  }

  private addInterfaceEndpoints(): void {
    const account = Stack.of(this).account;
    for (const [name, service] of INTERFACE_ENDPOINTS) {
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
          conditions: { StringEquals: { 'aws:PrincipalAccount': account } },
        }),
      );
    }
  }
}
