import { Annotations, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { CfnPullThroughCacheRule, Repository } from 'aws-cdk-lib/aws-ecr';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { CfnTaskDefinition, Cluster, ContainerInsights } from 'aws-cdk-lib/aws-ecs';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  AGENT_MOUNT,
  ENV_AGENT_IDLE_SECONDS,
  ENV_AGENT_MAX_SECONDS,
  WORKSPACE_CONTAINER,
} from '../../../adapters/sandbox/aws-contract.ts';
import { AGENT_PORT } from '../../../adapters/sandbox/protocol.ts';
import type { Catalog } from '../../../core/definitions/catalog.ts';
import type { SandboxSpec } from '../../../core/definitions/sandbox.ts';
import { acknowledgeWildcardResource } from '../../nag/acknowledge.ts';
import { stageSandboxImage } from '../../sandbox-image/stage.ts';
import { sandboxAgents } from './catalog.ts';
import { classifyImage } from './images.ts';
import { AUTH_TOKEN_REASON, ENV_REASON, INIT_CONTAINER } from './names.ts';
import type { SandboxNetwork } from './network.ts';
import { ephemeralStorageGiB, fargateSize, workspaceUlimits } from './sizing.ts';

/** The volume the init container fills for the workspace container. */
const AGENT_VOLUME = 'looprail-agent';
/** Where the init image keeps node's binary (the official image) and the bundled agent. */
const INIT_COPY = ['/bin/cp', '/usr/local/bin/node', '/opt/looprail/agent.mjs', `${AGENT_MOUNT}/`];
const ECR_PULL_ACTIONS = ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'];

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

/** The image the workspace container runs, and what its execution role must be allowed to pull it. */
interface WorkspaceImage {
  uri: string;
  repositoryArn?: string;
  cacheRepositoryArn?: string;
}

type LogConfiguration = CfnTaskDefinition.LogConfigurationProperty;
type ContainerDefinition = CfnTaskDefinition.ContainerDefinitionProperty;

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
    this.cluster = new Cluster(this, 'Cluster', {
      vpc: props.network.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
    });
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

    const logGroup = new LogGroup(this, `Logs-${suffix}`, {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    const { role, image } = this.executionRole(agent, suffix, spec.image, logGroup, stack);
    const logs = (prefix: string): LogConfiguration => ({
      logDriver: 'awslogs',
      options: {
        'awslogs-group': logGroup.logGroupName,
        'awslogs-region': stack.region,
        'awslogs-stream-prefix': prefix,
      },
    });
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
        initContainer(this.initImage.imageUri, logs('init')),
        workspaceContainer(image.uri, spec, props, logs('workspace')),
      ],
    });
    Validations.of(task).acknowledge({ id: 'AwsSolutions-ECS2', reason: ENV_REASON });
    this.taskDefinitions.set(agent, task);
    this.executionRoles.set(agent, role);
    this.logGroups.set(agent, logGroup);
  }

  /** The agent's execution role: pulls that agent's images and writes its log group, nothing else. */
  private executionRole(
    agent: string,
    suffix: string,
    imageName: string,
    logGroup: LogGroup,
    stack: Stack,
  ): { role: Role; image: WorkspaceImage } {
    const role = new Role(this, `ExecutionRole-${suffix}`, {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `Starts the looprail sandbox tasks of agent ${agent}: pulls their images and writes their logs, nothing else`,
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const repositories = [this.initImage.repository.repositoryArn];
    const image = this.workspaceImage(agent, imageName, stack);
    if (image.repositoryArn) repositories.push(image.repositoryArn);
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ECR_PULL_ACTIONS, resources: repositories }));
    if (image.cacheRepositoryArn) {
      // The first pull of a tag imports it from ECR Public into the (pre-created) repository.
      role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['ecr:BatchImportUpstreamImage'], resources: [image.cacheRepositoryArn] }),
      );
    }
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    acknowledgeWildcardResource(role, '*', AUTH_TOKEN_REASON);
    return { role, image };
  }

  /** The image the workspace container runs, and what its execution role must be allowed to pull it. */
  private workspaceImage(agent: string, image: string, stack: Stack): WorkspaceImage {
    const source = classifyImage(image);
    if (/alpine/.test(image)) {
      Annotations.of(this).addWarning(
        `agent ${agent}: sandbox image ${image} looks musl-based (Alpine); the sandbox agent runs the official ` +
          'Node binary, which needs glibc (Debian, Ubuntu, Amazon Linux)',
      );
    }
    if (source.kind === 'ecr-public') {
      const repository = this.cacheRepository(source.repository);
      const registry = `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}`;
      return {
        uri: `${registry}/${repository.repositoryName}${source.reference}`,
        repositoryArn: repository.repositoryArn,
        cacheRepositoryArn: repository.repositoryArn,
      };
    }
    if (source.kind === 'ecr') {
      if (!Token.isUnresolved(stack.region) && source.region !== stack.region) {
        Annotations.of(this).addWarning(
          `agent ${agent}: sandbox image ${image} is in ECR in ${source.region}; sandboxes reach ECR only in ` +
            `${stack.region} (they have no internet): replicate or push it there`,
        );
      }
      return {
        uri: image,
        repositoryArn: `arn:${stack.partition}:ecr:${source.region}:${source.account}:repository/${source.repository}`,
      };
    }
    Annotations.of(this).addWarning(
      `agent ${agent}: sandbox image ${image} is on ${source.registry}, which sandboxes cannot reach (they have no ` +
        'internet): push it to ECR in this account and Region, or use an image from public.ecr.aws (pulled through ' +
        "the stack's cache)",
    );
    return { uri: image };
  }

  /** The cache's repository for one ECR Public repository, created ahead so the grants can name it. */
  private cacheRepository(upstream: string): Repository {
    const existing = this.cacheRepositories.get(upstream);
    if (existing) return existing;
    const prefix = this.cacheRule!.ecrRepositoryPrefix as string;
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

/** `looprail-init`: copies Node and the bundled sandbox agent into the agent volume, and exits. */
function initContainer(image: string, logConfiguration: LogConfiguration): ContainerDefinition {
  return {
    name: INIT_CONTAINER,
    image,
    essential: false,
    entryPoint: INIT_COPY,
    readonlyRootFilesystem: true,
    mountPoints: [{ sourceVolume: AGENT_VOLUME, containerPath: AGENT_MOUNT, readOnly: false }],
    logConfiguration,
  };
}

/** `workspace`: the agent's image, running the sandbox agent from the volume once init succeeded. */
function workspaceContainer(
  image: string,
  spec: SandboxSpec,
  props: Pick<SandboxTasksProps, 'idleSeconds' | 'maxSeconds'>,
  logConfiguration: LogConfiguration,
): ContainerDefinition {
  return {
    name: WORKSPACE_CONTAINER,
    image,
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
    ulimits: workspaceUlimits(spec),
    linuxParameters: {
      // An init process reaps what killed commands leave behind.
      initProcessEnabled: true,
      // Nothing a workspace needs: raw sockets, device nodes, chroot, file capabilities, audit.
      capabilities: { drop: ['NET_RAW', 'MKNOD', 'SYS_CHROOT', 'SETFCAP', 'AUDIT_WRITE', 'NET_BIND_SERVICE'] },
    },
    logConfiguration,
  };
}
