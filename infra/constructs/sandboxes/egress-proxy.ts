import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Peer, Port, SecurityGroup } from 'aws-cdk-lib/aws-ec2';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  type Cluster,
  ContainerImage,
  CpuArchitecture,
  FargatePlatformVersion,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
  Protocol,
} from 'aws-cdk-lib/aws-ecs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { DnsRecordType, PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { Construct } from 'constructs';
import {
  EGRESS_PROXY_PORT,
  ENV_EGRESS_ALLOWLISTS,
  ENV_SANDBOX_SIGNING_SECRET,
} from '../../../adapters/sandbox/aws-contract.ts';
import { acknowledgeWildcardResource } from '../../nag/acknowledge.ts';
import { stageSandboxImage } from '../../sandbox-image/stage.ts';
import { proxyPorts } from './catalog.ts';
import {
  AUTH_TOKEN_REASON,
  EGRESS_PROXY_ADDRESS,
  EGRESS_PROXY_SERVICE,
  ENV_REASON,
  PROXY_SUBNETS,
  SANDBOX_NAMESPACE,
} from './names.ts';
import type { SandboxNetwork } from './network.ts';

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

/** The proxy's health check: something accepts connections on its port. */
const PORT_OPEN =
  `require('net').connect(${EGRESS_PROXY_PORT},'127.0.0.1')` +
  ".on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))";

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
    this.securityGroup = this.createSecurityGroup(network, props.allowlists);
    const namespace = new PrivateDnsNamespace(this, 'Namespace', {
      name: SANDBOX_NAMESPACE,
      vpc: network.vpc,
      description: 'looprail sandboxes: the egress proxy',
    });
    this.taskDefinition = this.createTaskDefinition(props);
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
      cloudMapOptions: {
        name: EGRESS_PROXY_SERVICE,
        cloudMapNamespace: namespace,
        dnsRecordType: DnsRecordType.A,
        dnsTtl: Duration.seconds(10),
      },
    });
  }

  /** In from the sandboxes on the proxy's port; out to the endpoints and the allowlisted ports. */
  private createSecurityGroup(network: SandboxNetwork, allowlists: Record<string, string[]>): SecurityGroup {
    const group = new SecurityGroup(this, 'SecurityGroup', {
      vpc: network.vpc,
      allowAllOutbound: false,
      description: 'looprail egress proxy: in from the sandboxes on the proxy port only; out to the allowlisted ports',
    });
    network.sandboxSecurityGroup.connections.allowTo(
      group,
      Port.tcp(EGRESS_PROXY_PORT),
      'sandboxes with an allowlist reach the internet through the proxy',
    );
    group.connections.allowTo(
      network.endpointSecurityGroup,
      Port.tcp(443),
      'the signing key (Secrets Manager), image pulls and logs through the VPC endpoints',
    );
    const ports = proxyPorts(allowlists);
    if (ports === 'any') {
      group.addEgressRule(
        Peer.anyIpv4(),
        Port.allTcp(),
        'an allowlisted host without a port may be reached on any port (the proxy enforces the hosts)',
      );
    } else {
      for (const port of ports) {
        group.addEgressRule(Peer.anyIpv4(), Port.tcp(port), 'an allowlisted host:port (the proxy enforces the hosts)');
      }
    }
    return group;
  }

  /** One small ARM64 task whose role reads the signing key (to check egress credentials) and nothing else. */
  private createTaskDefinition(props: EgressProxyProps): FargateTaskDefinition {
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    const task = new FargateTaskDefinition(this, 'Task', {
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.ARM64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    props.signingSecret.grantRead(task.taskRole);
    const image = new DockerImageAsset(this, 'Image', {
      directory: stageSandboxImage('egress', { bundle: props.bundle, projectRoot: props.projectRoot }),
      platform: Platform.LINUX_ARM64,
    });
    task.addContainer('proxy', {
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
        command: ['CMD', 'node', '-e', PORT_OPEN],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(10),
      },
      logging: LogDrivers.awsLogs({ streamPrefix: 'egress', logGroup }),
    });
    Validations.of(task).acknowledge({ id: 'AwsSolutions-ECS2', reason: ENV_REASON });
    acknowledgeWildcardResource(task.obtainExecutionRole(), '*', AUTH_TOKEN_REASON);
    return task;
  }
}
