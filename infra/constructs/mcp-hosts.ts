import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { identitiesOf } from '../../core/definitions/identity.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import type { HostedServer } from '../../adapters/mcp/host-protocol.ts';
import { resolveStdioProgram, type StdioSpec } from '../../adapters/mcp/stdio-program.ts';
import { MCP_HOSTS_VARIABLE, ownEnvironment, roleVariables } from '../../functions/_shared/env-contract.ts';
import type { LogLevel } from '../../functions/_shared/env-contract.ts';
import { acknowledgeWildcardResource } from '../nag/acknowledge.ts';
import { secretArn } from './catalog-access.ts';
import { HandlerFunction, PROJECT_ROOT } from './handler-function.ts';
import { SERVER_BUNDLE, stageHostAsset } from './mcp-host-asset.ts';

export interface McpHostsProps {
  readonly catalog: Catalog;
  /** The agents' roles by identity (AgentIdentities.roles): each may invoke the hosts of its own servers. */
  readonly agentRoles: ReadonlyMap<string, IRole>;
  readonly logLevel?: LogLevel;
  readonly logRetention?: RetentionDays;
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Where node_modules and the files servers' args name are found. Default: the repository root. */
  readonly projectRoot?: string;
}

const PLACEHOLDER = '${LOOPRAIL_STATE_DIR}';

/**
 * One Lambda per stdio MCP server some agent uses (functions/mcp/host.ts): its asset holds
 * the host handler, the server's program bundled by esbuild (Lambda has no npx and no
 * node_modules) and the project files its arguments name, copied and pointed to. The steps
 * invoke a host as the agent (LOOPRAIL_MCP_HOSTS), so only the roles of agents that declare
 * the server may invoke it. A server that keeps state (`${LOOPRAIL_STATE_DIR}`) keeps it in
 * one S3 bucket, under its name; the host may read its own secrets (`env_secrets`) and nothing else.
 */
export class McpHosts extends Construct {
  /** By server name. */
  readonly hosts: ReadonlyMap<string, HandlerFunction>;
  /** Only when some hosted server keeps state. */
  readonly stateBucket?: Bucket;

  constructor(scope: Construct, id: string, props: McpHostsProps) {
    super(scope, id);
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    const identities = identitiesOf(props.catalog);
    const hosted = Object.values(props.catalog.servers)
      .filter((server): server is McpServerDeclaration & { transport: StdioSpec } => server.transport.type === 'stdio')
      .filter((server) => identities.some((identity) => identity.servers.includes(server.name)))
      .sort((a, b) => a.name.localeCompare(b.name));
    if (hosted.some(keepsState)) this.stateBucket = this.bucket();

    const hosts = new Map<string, HandlerFunction>();
    for (const server of hosted) {
      const host = this.host(server, projectRoot, props);
      for (const identity of identities.filter((each) => each.servers.includes(server.name))) {
        props.agentRoles
          .get(identity.name)
          ?.addToPrincipalPolicy(
            new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [host.functionArn] }),
          );
      }
      hosts.set(server.name, host);
    }
    this.hosts = hosts;
  }

  /** `LOOPRAIL_MCP_HOSTS` on the steps that reach MCP servers (StartRun, ModelStep, ToolStep, Verify). */
  connectSteps(steps: HandlerFunction[]): void {
    if (this.hosts.size === 0) return;
    const names = Object.fromEntries([...this.hosts].map(([server, host]) => [server, host.function.functionName]));
    for (const step of steps)
      step.addEnvironment(roleVariables('runtime', { [MCP_HOSTS_VARIABLE]: JSON.stringify(names) }));
  }

  private host(server: McpServerDeclaration & { transport: StdioSpec }, projectRoot: string, props: McpHostsProps) {
    const resolution = resolveStdioProgram(projectRoot, server.transport);
    if (!resolution.ok) {
      throw new Error(
        `MCP server "${server.name}" cannot run on AWS: ${resolution.reason}; install the npm package that provides it, or declare transport: { type: http, url }`,
      );
    }
    const stack = Stack.of(this);
    const staged = stageHostAsset(projectRoot, resolution.program, server.transport.cwd, stack.bundlingRequired);
    const { connect, call } = server.timeouts;
    const spec: HostedServer = {
      name: server.name,
      program: SERVER_BUNDLE,
      args: staged.args,
      env: server.transport.env,
      env_secrets: server.transport.env_secrets,
      ...(staged.cwd !== undefined ? { cwd: staged.cwd } : {}),
      timeouts: { connect, call },
      read_only_tools: Object.entries(server.tools)
        .filter(([, flags]) => flags.read_only === true)
        .map(([tool]) => tool),
    };
    const stateful = keepsState(server);
    const host = new HandlerFunction(this, `Host-${server.name.replace(/[^A-Za-z0-9]/g, '')}`, {
      entry: 'functions/mcp/host.ts',
      description: `MCP host of ${server.name}: ${resolution.program.source}, started over stdio and invoked by its agents`,
      // The server is a second Node process beside the handler.
      memorySize: 1024,
      timeout: Duration.seconds(Math.min(900, (connect ?? 10) + (call ?? 60) + 30)),
      environment: ownEnvironment('mcpHost', {
        LOOPRAIL_MCP_SERVER: JSON.stringify(spec),
        LOOPRAIL_MCP_STATE_BUCKET: stateful ? this.stateBucket!.bucketName : undefined,
        LOOPRAIL_SECRETS: 'aws',
        LOOPRAIL_LOG_LEVEL: props.logLevel ?? 'info',
      }),
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
      projectRoot,
      bundling: { files: staged.files },
    });
    const secrets = [...new Set(Object.values(server.transport.env_secrets))].sort();
    if (secrets.length > 0) {
      host.role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: secrets.map((name) => secretArn(stack, name)),
        }),
      );
    }
    if (stateful) this.grantState(host, server.name);
    return host;
  }

  /**
   * The server's own prefix, nothing more. Reserved concurrency 1: one container holds the
   * state folder at a time, so two containers never each save a copy over the other's writes
   * (a second concurrent call is throttled, which the caller retries as ToolUnavailable).
   */
  private grantState(host: HandlerFunction, server: string): void {
    const bucket = this.stateBucket!;
    const objects = bucket.arnForObjects(`${server}/*`);
    host.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], resources: [objects] }),
    );
    host.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${server}/*`] } },
      }),
    );
    acknowledgeWildcardResource(
      host.role,
      objects,
      "The server's state files are named by the server itself (its own folder): the host reads and writes only under its own prefix.",
    );
    (host.function.node.defaultChild as CfnFunction).reservedConcurrentExecutions = 1;
  }

  private bucket(): Bucket {
    const bucket = new Bucket(this, 'State', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      // The team's memory outlives a stack that is deleted and deployed again.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
    });
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "Only the MCP hosts' own roles reach this bucket, each under its own prefix, and each of their calls is in the host's log group; versioning keeps 30 days of every file's history.",
    });
    return bucket;
  }
}

function keepsState(server: McpServerDeclaration): boolean {
  return JSON.stringify(server.transport).includes(PLACEHOLDER);
}
