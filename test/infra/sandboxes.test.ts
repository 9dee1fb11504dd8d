import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { CfnTaskDefinition } from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks, NagRuleCompliance, type NagPack } from 'cdk-nag';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AGENT_MOUNT,
  EGRESS_PROXY_PORT,
  ENV_EGRESS_ALLOWLISTS,
  ENV_SANDBOX_BROKER,
  ENV_SANDBOX_SIGNING_SECRET,
  WORKSPACE_CONTAINER,
} from '../../adapters/sandbox/aws-contract.ts';
import { AGENT_PORT } from '../../adapters/sandbox/protocol.ts';
import { AgentSpec } from '../../core/definitions/agent.ts';
import type { AgentEntry, Catalog } from '../../core/definitions/catalog.ts';
import {
  DEFAULT_SANDBOX_IDLE_SECONDS,
  DEFAULT_SANDBOX_MAX_SECONDS,
  EGRESS_PROXY_ADDRESS,
  egressAllowlists,
  INIT_CONTAINER,
  proxyPorts,
} from '../../infra/constructs/sandboxes/index.ts';
import { STEP_NAMES } from '../../infra/constructs/step-functions.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';
import { sandboxTaskIsolated } from '../../infra/nag/rules/sandbox-task-isolated.ts';
import { packFolder, stageFolderArchive } from '../../infra/sandbox-image/repo-archive.ts';
import { stageSandboxImage } from '../../infra/sandbox-image/stage.ts';
import { LooprailStack, type LooprailStackProps } from '../../infra/stacks/looprail-stack.ts';

/**
 * The AWS sandboxes' isolation, proved on the synthesized template: who may start, reach,
 * stop and read what (IAM), and which packets may go where (security groups, routes,
 * endpoints, DNS). Stacks are built with `bundle: false`, from a catalog with one
 * `network: none` agent (with a repository copied in), one allowlist agent and one agent
 * without a sandbox.
 */

const ROOT = join(import.meta.dirname, '../..');
const ORG = join(ROOT, 'test/fixtures/sandbox-org');
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;
const ENV = { account: '123456789012', region: 'eu-west-1' };
const scratch = mkdtempSync(join(tmpdir(), 'looprail-sandboxes-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const price = { input_per_mtok: 3, output_per_mtok: 15 };
const instructions = { path: './i.md', version: 'v1', text: 'Do the work.', sha256: '' };
const agentEntry = (spec: Record<string, unknown>): AgentEntry => ({
  file: `${spec.name}.yaml`,
  spec: AgentSpec.parse({ instructions: './i.md@v1', model: 'claude', ...spec }),
  instructions,
  subagentInstructions: {},
});

const ALLOW = ['registry.npmjs.org', '*.github.com'];
const catalogOf = (agents: AgentEntry[]): Catalog => ({
  agents: Object.fromEntries(agents.map((agent) => [agent.spec.name, agent])),
  models: {
    claude: {
      name: 'claude',
      declaration: { provider: 'bedrock', model_id: 'anthropic.claude-sonnet-4-6-v1:0', price },
    },
  },
  servers: {},
  skills: {},
  secrets: [],
  budgets: { budgets: [], limits: [] },
});
const CODER = agentEntry({
  name: 'coder',
  mcp_servers: ['sandbox'],
  sandbox: {
    memory_mb: 512,
    disk_mb: 64,
    max_processes: 128,
    network: 'none',
    copy_in: { repository: { path: 'repos/calc' } },
  },
});
const FETCHER = agentEntry({
  name: 'fetcher',
  mcp_servers: ['sandbox'],
  sandbox: { cpu: 0.5, memory_mb: 3000, disk_mb: 30_000, network: { allow: ALLOW } },
});
const REPORTER = agentEntry({ name: 'reporter' });
const CATALOG = catalogOf([CODER, FETCHER, REPORTER]);

function synth(props: Partial<LooprailStackProps> = {}) {
  const app = new App({ context: CDK_CONTEXT });
  const stack = new LooprailStack(app, 'Looprail', {
    env: ENV,
    catalog: CATALOG,
    orgDir: ORG,
    bundle: false,
    ...props,
  });
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  const id = (construct: { node: { defaultChild?: unknown } } | CfnTaskDefinition) =>
    stack.getLogicalId((construct instanceof CfnTaskDefinition ? construct : construct.node.defaultChild) as never);
  return { app, stack, template, resources, id };
}

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
const actionsOf = (statement: Statement) => [statement.Action].flat();
const resourcesOf = (statement: Statement) => [statement.Resource].flat();

/** The statements of every policy attached to a role (by the role's logical id). */
function roleStatements(
  resources: Record<string, { Type: string; Properties: Record<string, any> }>,
  roleId: string,
): Statement[] {
  return Object.values(resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        (r.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId })),
    )
    .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[]);
}

/** Every role's statements, by role logical id. */
function allRoleStatements(
  resources: Record<string, { Type: string; Properties: Record<string, any> }>,
): Map<string, Statement[]> {
  const out = new Map<string, Statement[]>();
  for (const [roleId, r] of Object.entries(resources))
    if (r.Type === 'AWS::IAM::Role') out.set(roleId, roleStatements(resources, roleId));
  return out;
}

interface Rule {
  direction: 'in' | 'out';
  protocol: string;
  from?: number;
  to?: number;
  peer: string;
}

/** A security group's rules, inline or as separate resources, with the peer named by logical id, prefix list or CIDR. */
function rulesOf(
  resources: Record<string, { Type: string; Properties: Record<string, any> }>,
  groupId: string,
): Rule[] {
  const peerOf = (rule: Record<string, any>): string => {
    const group = rule.SourceSecurityGroupId ?? rule.DestinationSecurityGroupId;
    if (group) return `sg:${(group['Fn::GetAtt'] as string[])[0]}`;
    if (rule.DestinationPrefixListId) return 'prefix-list:s3';
    return `cidr:${rule.CidrIp ?? rule.CidrIpv6}`;
  };
  const rule = (direction: 'in' | 'out', raw: Record<string, any>): Rule => ({
    direction,
    protocol: String(raw.IpProtocol),
    from: raw.FromPort,
    to: raw.ToPort,
    peer: peerOf(raw),
  });
  const group = resources[groupId]!.Properties;
  const rules = [
    ...((group.SecurityGroupIngress ?? []) as Array<Record<string, any>>).map((raw) => rule('in', raw)),
    ...((group.SecurityGroupEgress ?? []) as Array<Record<string, any>>).map((raw) => rule('out', raw)),
  ];
  for (const r of Object.values(resources)) {
    if (JSON.stringify(r.Properties?.GroupId) !== JSON.stringify({ 'Fn::GetAtt': [groupId, 'GroupId'] })) continue;
    if (r.Type === 'AWS::EC2::SecurityGroupIngress') rules.push(rule('in', r.Properties));
    if (r.Type === 'AWS::EC2::SecurityGroupEgress') rules.push(rule('out', r.Properties));
  }
  return rules.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

const tcp = (direction: 'in' | 'out', port: number, peer: string): Rule => ({
  direction,
  protocol: 'tcp',
  from: port,
  to: port,
  peer,
});

function nagViolations(pack: NagPack, app: App): string[] {
  return pack
    .validateScope(app)
    .violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`));
}

describe('sandbox sizes', () => {
  it('refuses at synth, naming the agent, a sandbox no Fargate task can hold', () => {
    // Past the schema's bounds (a catalog built by hand): the stack still refuses it.
    const big = agentEntry({ name: 'big', sandbox: {} });
    big.spec.sandbox = { ...big.spec.sandbox!, cpu: 16, memory_mb: 130_000 };
    expect(() => synth({ catalog: catalogOf([big]) })).toThrow(
      /agent big: sandbox cpu 16 with memory_mb 130000 fits no Fargate task size/,
    );
    const disky = agentEntry({ name: 'disky', sandbox: {} });
    disky.spec.sandbox = { ...disky.spec.sandbox!, disk_mb: 300_000 };
    expect(() => synth({ catalog: catalogOf([disky]) })).toThrow(/agent disky: sandbox disk_mb 300000/);
  });
});

describe('sandbox images', () => {
  it('pulls ECR Public images through a cache rule into a repository of their own, and ECR images as they are', () => {
    const privateImage = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/tools:1.2';
    const own = agentEntry({ name: 'own', sandbox: { image: privateImage } });
    const { stack, template, resources, id } = synth({ catalog: catalogOf([CODER, own]) });
    const tasks = stack.sandboxes!.tasks;
    template.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
      UpstreamRegistryUrl: 'public.ecr.aws',
      UpstreamRegistry: 'ecr-public',
      EcrRepositoryPrefix: 'looprail-5ea1e36b-ecr-public',
    });
    template.hasResourceProperties('AWS::ECR::Repository', {
      RepositoryName: 'looprail-5ea1e36b-ecr-public/docker/library/node',
    });
    const cache = id(tasks.cacheRepositories.get('docker/library/node')!);
    const workspaceImage = (agent: string) =>
      (
        resources[id(tasks.taskDefinitions.get(agent)!)]!.Properties.ContainerDefinitions as Array<{
          Name: string;
          Image: unknown;
        }>
      ).find((c) => c.Name === WORKSPACE_CONTAINER)!.Image;
    expect(workspaceImage('coder')).toEqual({
      'Fn::Join': [
        '',
        ['123456789012.dkr.ecr.eu-west-1.', { Ref: 'AWS::URLSuffix' }, '/', { Ref: cache }, ':22-bookworm'],
      ],
    });
    expect(workspaceImage('own')).toBe(privateImage);

    const pulls = (agent: string) =>
      resourcesFor(roleStatements(resources, id(tasks.executionRoles.get(agent)!)), 'ecr:BatchGetImage');
    expect(pulls('coder')).toContain(JSON.stringify({ 'Fn::GetAtt': [cache, 'Arn'] }));
    expect(pulls('own')).toContainEqual(expect.stringContaining(':ecr:eu-west-1:123456789012:repository/team/tools"'));
    expect(pulls('own')).not.toContain(JSON.stringify({ 'Fn::GetAtt': [cache, 'Arn'] }));
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('sandbox image'))).toEqual([]);
  });

  it('warns at synth, naming the agent, about an image sandboxes cannot pull without internet', () => {
    const hub = agentEntry({ name: 'hub', sandbox: { image: 'ghcr.io/acme/tools:1' } });
    const far = agentEntry({ name: 'far', sandbox: { image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/tools:1' } });
    const musl = agentEntry({ name: 'musl', sandbox: { image: 'public.ecr.aws/docker/library/node:22-alpine' } });
    const { stack } = synth({ catalog: catalogOf([hub, far, musl]) });
    const warnings = Annotations.fromStack(stack);
    warnings.hasWarning(
      '/Looprail/Sandboxes/Tasks',
      Match.stringLikeRegexp(
        '^agent hub: sandbox image ghcr.io/acme/tools:1 is on ghcr.io, which sandboxes cannot reach',
      ),
    );
    warnings.hasWarning(
      '/Looprail/Sandboxes/Tasks',
      Match.stringLikeRegexp(
        '^agent far: sandbox image .* is in ECR in us-east-1; sandboxes reach ECR only in eu-west-1',
      ),
    );
    warnings.hasWarning('/Looprail/Sandboxes/Tasks', Match.stringLikeRegexp('^agent musl: .*needs glibc'));
  });
});

function resourcesFor(statements: Statement[], action: string): string[] {
  return statements
    .filter((s) => actionsOf(s).includes(action))
    .flatMap(resourcesOf)
    .map((r) => JSON.stringify(r));
}

describe('sandbox task definitions', () => {
  const { stack, resources, id } = synth();
  const sandboxes = stack.sandboxes!;
  const taskProps = (agent: string) => resources[id(sandboxes.tasks.taskDefinitions.get(agent)!)]!.Properties;
  const container = (agent: string, name: string) =>
    (taskProps(agent).ContainerDefinitions as Array<Record<string, any>>).find((c) => c.Name === name)!;

  it('has one per agent with sandbox:, in the family the broker is told, and none for the others', () => {
    expect([...sandboxes.tasks.taskDefinitions.keys()]).toEqual(['coder', 'fetcher']);
    expect(taskProps('coder').Family).toBe('Looprail-sandbox-coder');
    expect(taskProps('fetcher').Family).toBe('Looprail-sandbox-fetcher');
    const broker = resources[id(sandboxes.broker.function)]!.Properties.Environment.Variables;
    expect(broker.LOOPRAIL_SANDBOX_TASK_FAMILY_PREFIX).toBe('Looprail-sandbox-');
  });

  it('gives no task role: a sandbox holds no AWS credentials', () => {
    const sandboxTasks = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::ECS::TaskDefinition' &&
        JSON.stringify(r.Properties.ContainerDefinitions).includes(`"Name":"${WORKSPACE_CONTAINER}"`),
    );
    expect(sandboxTasks).toHaveLength(2);
    for (const task of sandboxTasks) expect(task.Properties.TaskRoleArn).toBeUndefined();
  });

  it('runs ARM64 Linux on Fargate in awsvpc mode, sized from the spec', () => {
    expect(taskProps('coder')).toMatchObject({
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      Cpu: '1024',
      Memory: '2048',
    });
    expect(taskProps('coder').EphemeralStorage).toBeUndefined();
    expect(taskProps('fetcher')).toMatchObject({ Cpu: '512', Memory: '3072', EphemeralStorage: { SizeInGiB: 30 } });
  });

  it("starts the workspace on the agent's image once the init container has copied node and the agent in, read-only", () => {
    const init = container('coder', INIT_CONTAINER);
    expect(init).toMatchObject({
      Essential: false,
      ReadonlyRootFilesystem: true,
      MountPoints: [{ SourceVolume: 'looprail-agent', ContainerPath: AGENT_MOUNT, ReadOnly: false }],
    });
    expect(init.EntryPoint).toEqual(['/bin/cp', '/usr/local/bin/node', '/opt/looprail/agent.mjs', `${AGENT_MOUNT}/`]);
    expect(JSON.stringify(init.Image)).toContain('container-assets');
    const workspace = container('coder', WORKSPACE_CONTAINER);
    expect(workspace).toMatchObject({
      Essential: true,
      User: '0',
      DependsOn: [{ ContainerName: INIT_CONTAINER, Condition: 'SUCCESS' }],
      EntryPoint: [`${AGENT_MOUNT}/node`, `${AGENT_MOUNT}/agent.mjs`],
      MountPoints: [{ SourceVolume: 'looprail-agent', ContainerPath: AGENT_MOUNT, ReadOnly: true }],
      PortMappings: [{ ContainerPort: AGENT_PORT, Protocol: 'tcp' }],
      Environment: [
        { Name: 'LOOPRAIL_SANDBOX_IDLE_SECONDS', Value: String(DEFAULT_SANDBOX_IDLE_SECONDS) },
        { Name: 'LOOPRAIL_SANDBOX_MAX_SECONDS', Value: String(DEFAULT_SANDBOX_MAX_SECONDS) },
      ],
      LinuxParameters: {
        InitProcessEnabled: true,
        Capabilities: { Drop: expect.arrayContaining(['NET_RAW', 'MKNOD']) },
      },
    });
    expect(workspace.Privileged).toBeUndefined();
    expect(workspace.Secrets).toBeUndefined();
    expect(taskProps('coder').Volumes).toEqual([{ Name: 'looprail-agent' }]);
  });

  it('limits processes, file size and core dumps from the spec', () => {
    expect(container('coder', WORKSPACE_CONTAINER).Ulimits).toEqual([
      { Name: 'nproc', SoftLimit: 128, HardLimit: 128 },
      { Name: 'fsize', SoftLimit: 64 * 1024 * 1024, HardLimit: 64 * 1024 * 1024 },
      { Name: 'core', SoftLimit: 0, HardLimit: 0 },
    ]);
    // ECS ulimits are 32-bit: a 30 GB disk caps one file just under 2 GiB.
    expect(container('fetcher', WORKSPACE_CONTAINER).Ulimits).toEqual([
      { Name: 'nproc', SoftLimit: 256, HardLimit: 256 },
      { Name: 'fsize', SoftLimit: 2 ** 31 - 1, HardLimit: 2 ** 31 - 1 },
      { Name: 'core', SoftLimit: 0, HardLimit: 0 },
    ]);
  });

  it("logs each agent's containers to its own log group, with the stack's retention", () => {
    for (const agent of ['coder', 'fetcher']) {
      const group = id(sandboxes.tasks.logGroups.get(agent)!);
      for (const name of [INIT_CONTAINER, WORKSPACE_CONTAINER]) {
        expect(container(agent, name).LogConfiguration).toMatchObject({
          LogDriver: 'awslogs',
          Options: { 'awslogs-group': { Ref: group } },
        });
      }
      expect(resources[group]!.Properties.RetentionInDays).toBe(30);
    }
  });

  it('gives each execution role its images and its log group, and nothing of the table, the secrets or KMS', () => {
    for (const agent of ['coder', 'fetcher']) {
      const roleId = id(sandboxes.tasks.executionRoles.get(agent)!);
      expect(taskProps(agent).ExecutionRoleArn).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
      const trust = resources[roleId]!.Properties.AssumeRolePolicyDocument.Statement as Array<{ Principal: unknown }>;
      expect(trust.map((s) => s.Principal)).toEqual([{ Service: 'ecs-tasks.amazonaws.com' }]);
      const statements = roleStatements(resources, roleId);
      expect(statements.flatMap(actionsOf).sort()).toEqual(
        [
          'ecr:BatchCheckLayerAvailability',
          'ecr:BatchGetImage',
          'ecr:BatchImportUpstreamImage',
          'ecr:GetAuthorizationToken',
          'ecr:GetDownloadUrlForLayer',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
        ].sort(),
      );
      expect(resourcesFor(statements, 'logs:PutLogEvents')).toEqual([
        JSON.stringify({ 'Fn::GetAtt': [id(sandboxes.tasks.logGroups.get(agent)!), 'Arn'] }),
      ]);
      // Only GetAuthorizationToken, which takes no resource, holds a wildcard.
      for (const statement of statements)
        if (resourcesOf(statement).includes('*')) expect(actionsOf(statement)).toEqual(['ecr:GetAuthorizationToken']);
      expect(resources[roleId]!.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('sandbox network', () => {
  const { stack, resources, id, template } = synth();
  const sandboxes = stack.sandboxes!;
  const network = sandboxes.network;
  const sandboxSg = id(network.sandboxSecurityGroup);
  const brokerSg = id(network.brokerSecurityGroup);
  const endpointSg = id(network.endpointSecurityGroup);
  const proxySg = id(sandboxes.proxy!.securityGroup);

  it('lets into a sandbox only the broker, on the agent port, and out only to the endpoints, S3 and the proxy', () => {
    expect(rulesOf(resources, sandboxSg)).toEqual(
      [
        tcp('in', AGENT_PORT, `sg:${brokerSg}`),
        tcp('out', 443, `sg:${endpointSg}`),
        tcp('out', 443, 'prefix-list:s3'),
        tcp('out', EGRESS_PROXY_PORT, `sg:${proxySg}`),
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    // No CIDR at all: not 0.0.0.0/0, not the VPC, not another sandbox.
    expect(
      rulesOf(resources, sandboxSg).filter((rule) => rule.peer.startsWith('cidr:') || rule.peer === `sg:${sandboxSg}`),
    ).toEqual([]);
  });

  it("lets the broker out to the sandboxes' agent port, the endpoints and S3 only, and nothing in", () => {
    expect(rulesOf(resources, brokerSg)).toEqual(
      [
        tcp('out', AGENT_PORT, `sg:${sandboxSg}`),
        tcp('out', 443, `sg:${endpointSg}`),
        tcp('out', 443, 'prefix-list:s3'),
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
  });

  it('lets into the endpoints HTTPS from the sandboxes, the broker and the proxy only, and into the proxy only the sandboxes', () => {
    const inbound = rulesOf(resources, endpointSg).filter((rule) => rule.direction === 'in');
    expect(inbound).toEqual(
      [tcp('in', 443, `sg:${brokerSg}`), tcp('in', 443, `sg:${proxySg}`), tcp('in', 443, `sg:${sandboxSg}`)].sort(
        (a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)),
      ),
    );
    expect(rulesOf(resources, proxySg).filter((rule) => rule.direction === 'in')).toEqual([
      tcp('in', EGRESS_PROXY_PORT, `sg:${sandboxSg}`),
    ]);
  });

  it('attaches the broker security group to the broker alone, and puts no other function in the VPC', () => {
    const users = Object.entries(resources).filter(
      ([, r]) =>
        JSON.stringify(r.Properties ?? {}).includes(`"Fn::GetAtt":["${brokerSg}","GroupId"]`) &&
        !r.Type.startsWith('AWS::EC2::SecurityGroup'),
    );
    expect(users.map(([logical]) => logical)).toEqual([id(sandboxes.broker.function)]);
    const inVpc = Object.entries(resources).filter(
      ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.VpcConfig,
    );
    expect(inVpc.map(([logical]) => logical)).toEqual([id(sandboxes.broker.function)]);
    expect(resources[id(sandboxes.broker.function)]!.Properties.VpcConfig).toEqual({
      SecurityGroupIds: [{ 'Fn::GetAtt': [brokerSg, 'GroupId'] }],
      SubnetIds: network.vpc.isolatedSubnets.map((subnet) => ({ Ref: id(subnet) })),
    });
  });

  it("gives the sandboxes' subnets no route to an internet gateway or a NAT gateway (and there is no NAT at all)", () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    const isolated = network.vpc.isolatedSubnets;
    expect(isolated).toHaveLength(2);
    const tables = new Set(
      isolated.map((subnet) =>
        JSON.stringify({ Ref: stack.getLogicalId(subnet.node.findChild('RouteTable') as never) }),
      ),
    );
    const routes = Object.values(resources).filter(
      (r) => r.Type === 'AWS::EC2::Route' && tables.has(JSON.stringify(r.Properties.RouteTableId)),
    );
    expect(routes).toEqual([]);
    // The proxy's public subnets are the only ones with a way out.
    const publicTables = new Set(
      network.vpc.publicSubnets.map((subnet) =>
        JSON.stringify({ Ref: stack.getLogicalId(subnet.node.findChild('RouteTable') as never) }),
      ),
    );
    for (const route of Object.values(resources).filter((r) => r.Type === 'AWS::EC2::Route')) {
      expect(publicTables.has(JSON.stringify(route.Properties.RouteTableId))).toBe(true);
      expect(route.Properties.NatGatewayId).toBeUndefined();
    }
    // The broker's and the tasks' subnets are those isolated ones.
    const broker = resources[id(sandboxes.broker.function)]!.Properties.Environment.Variables;
    expect(broker.LOOPRAIL_SANDBOX_SUBNETS).toEqual({
      'Fn::Join': ['', [{ Ref: id(isolated[0]!) }, ',', { Ref: id(isolated[1]!) }]],
    });
    expect(broker.LOOPRAIL_SANDBOX_SECURITY_GROUPS).toEqual({ 'Fn::GetAtt': [sandboxSg, 'GroupId'] });
  });

  it('reaches AWS through private endpoints for ECR, logs, ECS and Secrets Manager, limited to this account', () => {
    const interfaces = Object.values(resources).filter(
      (r) => r.Type === 'AWS::EC2::VPCEndpoint' && r.Properties.VpcEndpointType === 'Interface',
    );
    expect(interfaces.map((r) => r.Properties.ServiceName).sort()).toEqual([
      'com.amazonaws.eu-west-1.ecr.api',
      'com.amazonaws.eu-west-1.ecr.dkr',
      'com.amazonaws.eu-west-1.ecs',
      'com.amazonaws.eu-west-1.logs',
      'com.amazonaws.eu-west-1.secretsmanager',
    ]);
    for (const endpoint of interfaces) {
      expect(endpoint.Properties).toMatchObject({
        PrivateDnsEnabled: true,
        SecurityGroupIds: [{ 'Fn::GetAtt': [endpointSg, 'GroupId'] }],
        SubnetIds: network.vpc.isolatedSubnets.map((subnet) => ({ Ref: id(subnet) })),
        PolicyDocument: {
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: '*' },
              Action: '*',
              Resource: '*',
              Condition: { StringEquals: { 'aws:PrincipalAccount': '123456789012' } },
            },
          ],
        },
      });
    }
  });

  it("lets the S3 gateway endpoint serve ECR's image layers and the repository archives, nothing else", () => {
    const [gateway] = Object.values(resources).filter(
      (r) => r.Type === 'AWS::EC2::VPCEndpoint' && r.Properties.VpcEndpointType !== 'Interface',
    );
    const statements = gateway!.Properties.PolicyDocument.Statement as Statement[];
    expect(statements.flatMap(actionsOf)).toEqual(['s3:GetObject', 's3:GetObject']);
    const objects = statements.flatMap(resourcesOf).map((r) => JSON.stringify(r));
    expect(objects).toHaveLength(2);
    expect(objects[0]).toContain('-starport-layer-bucket/*');
    expect(objects[1]).toContain(
      `:s3:::cdk-hnb659fds-assets-123456789012-eu-west-1/${sandboxes.repositories.keys.coder}`,
    );
    expect(gateway!.Properties.RouteTableIds).toEqual(
      network.vpc.isolatedSubnets.map((subnet) => ({
        Ref: stack.getLogicalId(subnet.node.findChild('RouteTable') as never),
      })),
    );
  });

  it("records every flow, and resolves only AWS names, the proxy's namespace and the allowlisted hosts", () => {
    template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
    });
    const lists = Object.values(resources)
      .filter((r) => r.Type === 'AWS::Route53Resolver::FirewallDomainList')
      .map((r) => r.Properties.Domains);
    expect(lists).toContainEqual(['*']);
    expect(lists).toContainEqual([
      { 'Fn::Join': ['', ['*.', { Ref: 'AWS::URLSuffix' }]] },
      'sandbox.looprail.internal',
      '*.sandbox.looprail.internal',
      ...ALLOW,
    ]);
    const rules = Object.values(resources).find((r) => r.Type === 'AWS::Route53Resolver::FirewallRuleGroup')!.Properties
      .FirewallRules as Array<Record<string, unknown>>;
    expect(rules.map((rule) => [rule.Priority, rule.Action, rule.BlockResponse])).toEqual([
      [100, 'ALLOW', undefined],
      [200, 'BLOCK', 'NXDOMAIN'],
    ]);
    template.hasResourceProperties('AWS::Route53Resolver::FirewallRuleGroupAssociation', {
      VpcId: { Ref: id(network.vpc) },
    });
  });
});

describe('sandbox broker, sweeper and steps', () => {
  const { stack, resources, id } = synth();
  const sandboxes = stack.sandboxes!;
  const brokerRole = id(sandboxes.broker.role);
  const broker = roleStatements(resources, brokerRole);
  const cluster = { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [id(sandboxes.tasks.cluster), 'Arn'] } } };

  it('lets the broker run only the sandbox families, in the sandbox cluster, passing only their execution roles to ECS', () => {
    const run = broker.filter((s) => actionsOf(s).includes('ecs:RunTask'));
    expect(run).toHaveLength(1);
    expect(actionsOf(run[0]!)).toEqual(['ecs:RunTask']);
    expect(run[0]!.Condition).toEqual(cluster);
    expect(resourcesOf(run[0]!).map((r) => JSON.stringify(r))).toEqual(
      ['coder', 'fetcher'].map((agent) => expect.stringContaining(`:task-definition/Looprail-sandbox-${agent}:*`)),
    );
    const pass = broker.filter((s) => actionsOf(s).includes('iam:PassRole'));
    expect(pass).toEqual([
      {
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: ['coder', 'fetcher'].map((agent) => ({
          'Fn::GetAtt': [id(sandboxes.tasks.executionRoles.get(agent)!), 'Arn'],
        })),
        Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      },
    ]);
  });

  it('lets the broker find, tag at start and stop tasks of the sandbox cluster only', () => {
    const tasks = JSON.stringify({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ecs:eu-west-1:123456789012:task/',
          { Ref: id(sandboxes.tasks.cluster) },
          '/*',
        ],
      ],
    });
    for (const action of ['ecs:StopTask', 'ecs:DescribeTasks']) {
      const statement = broker.find((s) => actionsOf(s).includes(action))!;
      expect(
        resourcesOf(statement).map((r) => JSON.stringify(r)),
        action,
      ).toEqual([tasks]);
      expect(statement.Condition, action).toEqual(cluster);
    }
    const list = broker.find((s) => actionsOf(s).includes('ecs:ListTasks'))!;
    expect(list.Condition).toEqual(cluster);
    const tag = broker.find((s) => actionsOf(s).includes('ecs:TagResource'))!;
    expect(tag.Condition).toEqual({ StringEquals: { 'ecs:CreateAction': 'RunTask' } });
    expect(resourcesOf(tag).map((r) => JSON.stringify(r))).toEqual([tasks]);
  });

  it('gives the broker no table access, no secret but the signing key, and only the repository archives in S3', () => {
    const actions = broker.flatMap(actionsOf);
    expect(
      actions.filter(
        (a) => a.startsWith('dynamodb:') || a.startsWith('kms:') || a.startsWith('sts:') || a.startsWith('bedrock:'),
      ),
    ).toEqual([]);
    expect(resourcesFor(broker, 'secretsmanager:GetSecretValue')).toEqual([
      JSON.stringify({ Ref: id(sandboxes.signingSecret) }),
    ]);
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual(['s3:GetObject']);
    expect(resourcesFor(broker, 's3:GetObject')).toEqual([
      expect.stringContaining(`:s3:::cdk-hnb659fds-assets-123456789012-eu-west-1/${sandboxes.repositories.keys.coder}`),
    ]);
    expect([...new Set(actions.map((a) => a.split(':')[0]))].sort()).toEqual([
      'ec2',
      'ecs',
      'iam',
      'logs',
      's3',
      'secretsmanager',
    ]);
  });

  it('tells the broker the cluster, the signing key, the archives and the proxy, by the names the run-time code reads', () => {
    const env = resources[id(sandboxes.broker.function)]!.Properties.Environment.Variables;
    expect(env).toMatchObject({
      LOOPRAIL_SANDBOX_CLUSTER: { 'Fn::GetAtt': [id(sandboxes.tasks.cluster), 'Arn'] },
      LOOPRAIL_SANDBOX_REPOS_BUCKET: 'cdk-hnb659fds-assets-123456789012-eu-west-1',
      LOOPRAIL_SANDBOX_EGRESS_PROXY: EGRESS_PROXY_ADDRESS,
    });
    expect(JSON.parse(env.LOOPRAIL_SANDBOX_REPOS)).toEqual({ coder: sandboxes.repositories.keys.coder });
    expect(JSON.stringify(env[ENV_SANDBOX_SIGNING_SECRET])).toContain(id(sandboxes.signingSecret));
    // Only what its parser reads: no run table, no agent secrets.
    expect(env.LOOPRAIL_TABLE_NAME).toBeUndefined();
    expect(env.LOOPRAIL_SECRETS).toBeUndefined();
  });

  it('lets only the broker and the proxy read the signing key', () => {
    const readers = [...allRoleStatements(resources)]
      .filter(([, statements]) => JSON.stringify(statements).includes(`{"Ref":"${id(sandboxes.signingSecret)}"}`))
      .map(([role]) => role);
    expect(readers.sort()).toEqual([brokerRole, id(sandboxes.proxy!.taskDefinition.taskRole)].sort());
  });

  it('lets ToolStep, Verify, FinishRun and FailRun invoke the broker (and nothing else of it), and tells them its name', () => {
    const brokerArn = { 'Fn::GetAtt': [id(sandboxes.broker.function), 'Arn'] };
    for (const name of STEP_NAMES) {
      const step = stack.steps.steps[name];
      const statements = roleStatements(resources, id(step.role));
      const invokes = statements.filter((s) => actionsOf(s).includes('lambda:InvokeFunction'));
      const env = resources[id(step.function)]!.Properties.Environment.Variables;
      if (['ToolStep', 'Verify', 'FinishRun', 'FailRun'].includes(name)) {
        expect(invokes, name).toEqual([{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: brokerArn }]);
        expect(env[ENV_SANDBOX_BROKER], name).toEqual({ Ref: id(sandboxes.broker.function) });
      } else {
        expect(invokes, name).toEqual([]);
        expect(env[ENV_SANDBOX_BROKER], name).toBeUndefined();
      }
    }
  });

  it('gives no step, agent role or other function a way to start, reach or stop a sandbox', () => {
    const allowed = new Set([brokerRole, id(sandboxes.sweeper.role)]);
    for (const [role, statements] of allRoleStatements(resources)) {
      const actions = statements.flatMap(actionsOf);
      if (!allowed.has(role))
        expect(
          actions.filter(
            (a) => a.startsWith('ecs:RunTask') || a.startsWith('ecs:StopTask') || a === 'ecs:*' || a === '*',
          ),
          role,
        ).toEqual([]);
      if (role !== brokerRole)
        expect(
          actions.filter((a) => a === 'iam:PassRole'),
          role,
        ).toEqual([]);
    }
    for (const name of STEP_NAMES) {
      const actions = roleStatements(resources, id(stack.steps.steps[name].role)).flatMap(actionsOf);
      expect(
        actions.filter((a) => a.startsWith('ecs:') || a.startsWith('ec2:')),
        name,
      ).toEqual([]);
    }
    for (const role of stack.steps.identities.roles.values()) {
      expect(
        roleStatements(resources, id(role))
          .flatMap(actionsOf)
          .filter((a) => !a.startsWith('bedrock:') && !a.startsWith('secretsmanager:')),
      ).toEqual([]);
    }
  });

  it("sweeps every 5 minutes with a function that lists, describes and stops the cluster's tasks and reads run records only", () => {
    const sweeper = sandboxes.sweeper;
    const rule = resources[id(sandboxes.sweepRule)]!.Properties;
    expect(rule.ScheduleExpression).toBe('rate(5 minutes)');
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [id(sweeper.function), 'Arn'] } })]);
    const statements = roleStatements(resources, id(sweeper.role));
    expect(statements.flatMap(actionsOf).sort()).toEqual([
      'dynamodb:GetItem',
      'ecs:DescribeTasks',
      'ecs:ListTasks',
      'ecs:StopTask',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(resourcesFor(statements, 'dynamodb:GetItem')).toEqual([
      JSON.stringify({ 'Fn::GetAtt': [id(stack.table.table), 'Arn'] }),
    ]);
    for (const statement of statements.filter((s) => actionsOf(s).some((a) => a.startsWith('ecs:'))))
      expect(statement.Condition).toEqual(cluster);
    const fn = resources[id(sweeper.function)]!.Properties;
    expect(fn.VpcConfig).toBeUndefined();
    expect(fn.Environment.Variables).toMatchObject({
      LOOPRAIL_TABLE_NAME: { Ref: id(stack.table.table) },
      LOOPRAIL_SANDBOX_CLUSTER: { 'Fn::GetAtt': [id(sandboxes.tasks.cluster), 'Arn'] },
    });
  });

  it('turns container insights on for the cluster', () => {
    expect(resources[id(sandboxes.tasks.cluster)]!.Properties.ClusterSettings).toEqual([
      { Name: 'containerInsights', Value: 'enabled' },
    ]);
  });
});

describe('egress proxy', () => {
  it("exists with an allowlist: one ARM64 task in the public subnets, its allowlists exactly the agents' hosts, its role reading only the signing key", () => {
    const other = agentEntry({
      name: 'other',
      sandbox: { network: { allow: ['pypi.org:443', 'files.pythonhosted.org'] } },
    });
    const { stack, resources, id, template } = synth({ catalog: catalogOf([CODER, FETCHER, other, REPORTER]) });
    const proxy = stack.sandboxes!.proxy!;
    const task = resources[id(proxy.taskDefinition)]!.Properties;
    expect(task.RuntimePlatform).toEqual({ CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
    const [container] = task.ContainerDefinitions as Array<Record<string, any>>;
    const env = Object.fromEntries(
      (container!.Environment as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]),
    );
    expect(JSON.parse(env[ENV_EGRESS_ALLOWLISTS] as string)).toEqual({
      fetcher: ALLOW,
      other: ['pypi.org:443', 'files.pythonhosted.org'],
    });
    expect(JSON.stringify(env[ENV_SANDBOX_SIGNING_SECRET])).toContain(id(stack.sandboxes!.signingSecret));
    expect(container).toMatchObject({
      ReadonlyRootFilesystem: true,
      User: 'node',
      PortMappings: [{ ContainerPort: EGRESS_PROXY_PORT, Protocol: 'tcp' }],
    });
    expect(roleStatements(resources, id(proxy.taskDefinition.taskRole)).flatMap(actionsOf).sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);

    const service = resources[id(proxy.service)]!.Properties;
    expect(service).toMatchObject({ DesiredCount: 1, LaunchType: 'FARGATE' });
    expect(service.NetworkConfiguration.AwsvpcConfiguration).toEqual({
      AssignPublicIp: 'ENABLED',
      SecurityGroups: [{ 'Fn::GetAtt': [id(proxy.securityGroup), 'GroupId'] }],
      Subnets: stack.sandboxes!.network.vpc.publicSubnets.map((subnet) => ({ Ref: id(subnet) })),
    });
    template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: 'sandbox.looprail.internal' });
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', { Name: 'egress' });
    expect(EGRESS_PROXY_ADDRESS).toBe(`egress.sandbox.looprail.internal:${EGRESS_PROXY_PORT}`);
  });

  it('connects out only on the allowlisted ports when every host names one (and 443 for its own image)', () => {
    expect(proxyPorts({ a: ['pypi.org:8443', 'example.com:80'] })).toEqual([80, 443, 8443]);
    expect(proxyPorts({ a: ['pypi.org:8443'], b: ['github.com'] })).toBe('any');
    const pinned = agentEntry({ name: 'pinned', sandbox: { network: { allow: ['example.com:8443'] } } });
    const { stack, resources, id } = synth({ catalog: catalogOf([pinned]) });
    const out = rulesOf(resources, id(stack.sandboxes!.proxy!.securityGroup)).filter(
      (rule) => rule.direction === 'out',
    );
    expect(out).toEqual(
      [
        tcp('out', 443, 'cidr:0.0.0.0/0'),
        tcp('out', 443, `sg:${id(stack.sandboxes!.network.endpointSecurityGroup)}`),
        tcp('out', 8443, 'cidr:0.0.0.0/0'),
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
  });

  it('does not exist when every sandbox is network: none: no public subnet, no internet gateway, no way out', () => {
    expect(egressAllowlists(catalogOf([CODER, REPORTER]))).toEqual({});
    const { stack, resources, id, template } = synth({ catalog: catalogOf([CODER, REPORTER]) });
    const sandboxes = stack.sandboxes!;
    expect(sandboxes.proxy).toBeUndefined();
    template.resourceCountIs('AWS::ECS::Service', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::Route', 0);
    expect(sandboxes.network.vpc.publicSubnets).toEqual([]);
    expect(
      resources[id(sandboxes.broker.function)]!.Properties.Environment.Variables.LOOPRAIL_SANDBOX_EGRESS_PROXY,
    ).toBeUndefined();
    const sandboxSg = id(sandboxes.network.sandboxSecurityGroup);
    expect(rulesOf(resources, sandboxSg).map((rule) => rule.peer)).not.toContain(expect.stringMatching(/proxy/i));
    expect(
      rulesOf(resources, sandboxSg)
        .filter((rule) => rule.direction === 'out')
        .map((rule) => rule.to),
    ).toEqual([443, 443]);
  });
});

describe('an environment-agnostic stack (cdk synth without credentials)', () => {
  it('synthesizes with the account, Region and AZs left to CloudFormation, and stays nag-clean', () => {
    const app = new App({ context: CDK_CONTEXT });
    const stack = new LooprailStack(app, 'Looprail', { catalog: CATALOG, orgDir: ORG, bundle: false });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::ECS::TaskDefinition', 3);
    const image = JSON.stringify(
      template.toJSON().Resources[stack.getLogicalId(stack.sandboxes!.tasks.taskDefinitions.get('coder')!)].Properties
        .ContainerDefinitions[1].Image,
    );
    expect(image).toContain('AWS::AccountId');
    expect(image).toContain('AWS::Region');
    expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
    expect(nagViolations(new LooprailChecks(), app)).toEqual([]);
  });
});

describe('a stack without sandboxes', () => {
  it('creates no VPC, cluster, task, broker, sweeper or proxy, and tells the steps nothing', () => {
    const { stack, template } = synth({ catalog: catalogOf([REPORTER]) });
    expect(stack.sandboxes).toBeUndefined();
    for (const type of [
      'AWS::EC2::VPC',
      'AWS::EC2::SecurityGroup',
      'AWS::EC2::VPCEndpoint',
      'AWS::ECS::Cluster',
      'AWS::ECS::TaskDefinition',
      'AWS::ECR::PullThroughCacheRule',
      'AWS::Route53Resolver::FirewallRuleGroup',
    ]) {
      template.resourceCountIs(type, 0);
    }
    template.resourceCountIs('AWS::Lambda::Function', 12);
    expect(JSON.stringify(template.toJSON())).not.toContain('LOOPRAIL_SANDBOX');
  });
});

describe('repository archives', () => {
  it('packs copy_in.repository.path at synth, as one archive per agent the broker alone may read', () => {
    const { stack } = synth();
    const asset = stack.sandboxes!.repositories.assets.get('coder')!;
    expect([...stack.sandboxes!.repositories.assets.keys()]).toEqual(['coder']);
    const listing = execFileSync('tar', ['-tzf', stageFolderArchive(join(ORG, 'repos/calc'))], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .sort();
    expect(listing).toEqual(['README.md', 'src/', 'src/sum.js', 'test.js']);
    expect(asset.s3ObjectKey).toMatch(/\.gz$/);
  });

  it('refuses a path outside the org folder, a missing folder, and a stack without the org folder', () => {
    const outside = agentEntry({ name: 'outside', sandbox: { copy_in: { repository: { path: 'repos/calc' } } } });
    expect(() => synth({ catalog: catalogOf([outside]), orgDir: join(ORG, 'repos/calc/src') })).toThrow(
      /agent outside: sandbox copy_in.repository.path repos\/calc is not a folder in/,
    );
    const missing = agentEntry({ name: 'missing', sandbox: { copy_in: { repository: { path: 'repos/nope' } } } });
    expect(() => synth({ catalog: catalogOf([missing]) })).toThrow(
      /agent missing: sandbox copy_in.repository.path repos\/nope is not a folder/,
    );
    const escaping = agentEntry({ name: 'escape', sandbox: {} });
    escaping.spec.sandbox = {
      ...escaping.spec.sandbox!,
      copy_in: { files: [], repository: { path: '../sandbox-org', ref: 'HEAD' } },
    };
    expect(() => synth({ catalog: catalogOf([escaping]), orgDir: join(ORG, 'repos') })).toThrow(
      /agent escape: sandbox copy_in.repository.path \.\.\/sandbox-org is outside the org folder/,
    );
    expect(() => synth({ catalog: catalogOf([CODER]), orgDir: undefined })).toThrow(
      /agent coder: sandbox copy_in.repository.path repos\/calc needs the org folder/,
    );
  });

  it('packs the same folder to the same bytes, a git repository with its history, long paths and symlinks', () => {
    const repo = join(scratch, 'repo');
    const deep = join(repo, ...Array.from({ length: 4 }, () => 'd'.repeat(50)));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, `${'f'.repeat(120)}.txt`), 'deep\n');
    writeFileSync(join(repo, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    symlinkSync('run.sh', join(repo, 'link'));
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', repo, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
        encoding: 'utf8',
      });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'first');
    writeFileSync(join(repo, 'run.sh'), '#!/bin/sh\necho changed\n');
    git('commit', '-qam', 'second');

    const first = packFolder(repo);
    expect(packFolder(repo).bytes.equals(first.bytes)).toBe(true);
    const archive = join(scratch, 'repo.tar.gz');
    writeFileSync(archive, first.bytes);
    const out = join(scratch, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-xzf', archive, '-C', out]);
    execFileSync('diff', ['-r', repo, out]);
    expect(execFileSync('git', ['-C', out, 'log', '--format=%s'], { encoding: 'utf8' }).trim().split('\n')).toEqual([
      'second',
      'first',
    ]);
    expect(execFileSync('git', ['-C', out, 'status', '--porcelain'], { encoding: 'utf8' })).toBe('');
    const listing = execFileSync('tar', ['-tvzf', archive], { encoding: 'utf8' });
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* run\.sh$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* link -> run\.sh$/m);
  });
});

describe('sandbox images at synth', () => {
  it('stages a placeholder program when bundling is off, and the bundled one when it is on', () => {
    const off = stageSandboxImage('init', { bundle: false });
    expect(readFileSync(join(off, 'Dockerfile'), 'utf8')).toMatch(
      /^FROM public\.ecr\.aws\/docker\/library\/node:22-bookworm-slim$/m,
    );
    expect(readFileSync(join(off, 'agent.mjs'), 'utf8')).toContain('was not bundled');

    const project = join(scratch, 'project');
    mkdirSync(join(project, 'containers/egress-proxy'), { recursive: true });
    writeFileSync(join(project, 'tsconfig.json'), '{}');
    writeFileSync(
      join(project, 'containers/egress-proxy/helper.ts'),
      'export const greeting: string = "proxy ready";\n',
    );
    writeFileSync(
      join(project, 'containers/egress-proxy/main.ts'),
      "import { greeting } from './helper.ts';\nconsole.log(greeting);\n",
    );
    const on = stageSandboxImage('egress', { bundle: true, projectRoot: project });
    const bundle = readFileSync(join(on, 'egress.mjs'), 'utf8');
    expect(bundle).toContain('proxy ready');
    expect(bundle).not.toContain('helper.ts');
    expect(readFileSync(join(on, 'Dockerfile'), 'utf8')).toContain('USER node');
    expect(stageSandboxImage('egress', { bundle: true, projectRoot: project })).toBe(on);
  });

  it('names the missing entry, and a bundling failure', () => {
    const empty = join(scratch, 'empty');
    mkdirSync(empty, { recursive: true });
    expect(() => stageSandboxImage('init', { bundle: true, projectRoot: empty })).toThrow(
      /the sandbox init image needs containers\/sandbox-agent\/main\.ts, which does not exist/,
    );
    const broken = join(scratch, 'broken');
    mkdirSync(join(broken, 'containers/sandbox-agent'), { recursive: true });
    writeFileSync(join(broken, 'tsconfig.json'), '{}');
    writeFileSync(join(broken, 'containers/sandbox-agent/main.ts'), "import './missing.ts';\n");
    expect(() => stageSandboxImage('init', { bundle: true, projectRoot: broken })).toThrow(
      /bundling containers\/sandbox-agent\/main\.ts for the sandbox init image failed: .*missing\.ts/s,
    );
  });
});

describe('cdk-nag', () => {
  it('passes AwsSolutions and the looprail pack with sandboxes, with and without a proxy', () => {
    for (const catalog of [CATALOG, catalogOf([CODER])]) {
      const { app } = synth({ catalog });
      expect(nagViolations(new AwsSolutionsChecks(), app)).toEqual([]);
      expect(nagViolations(new LooprailChecks(), app)).toEqual([]);
    }
  });

  it('acknowledges only specific findings in the sandboxes, each with its reason', () => {
    const { app } = synth();
    const acknowledged: Array<{ id: string; reason: string; path: string }> = [];
    for (const construct of app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== 'aws:cdk:acknowledged-rules') continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>))
          acknowledged.push({ id, reason, path: construct.node.path });
      }
    }
    // CDK acknowledges some CloudFormation validations of its own constructs (the flow log's); those are not ours.
    const sandbox = acknowledged.filter(
      (each) => each.path.startsWith('Looprail/Sandboxes/') && !each.id.startsWith('CloudFormation-Validate::'),
    );
    expect(sandbox.length).toBeGreaterThan(0);
    for (const { id, reason, path } of sandbox) {
      expect(reason.length, `${id} at ${path}`).toBeGreaterThan(40);
      if (id.includes('IAM5')) expect(id, path).toMatch(/IAM5\[Resource::.+\]$/);
      expect(id, path).toMatch(/AwsSolutions-(L1|SMG4|ECS2|IAM5\[.+\])$/);
    }
  });

  it('Looprail-SandboxTaskIsolated flags a sandbox task with a role, secrets, a privileged container or a host volume', () => {
    const stack = new Stack(new App(), 'Nag');
    const container = (extra: Partial<CfnTaskDefinition.ContainerDefinitionProperty> = {}) => ({
      name: WORKSPACE_CONTAINER,
      image: 'x',
      ...extra,
    });
    const task = (id: string, props: Partial<ConstructorParameters<typeof CfnTaskDefinition>[2]>) =>
      new CfnTaskDefinition(stack, id, { networkMode: 'awsvpc', containerDefinitions: [container()], ...props });
    expect(sandboxTaskIsolated(task('Clean', {}))).toBe(NagRuleCompliance.COMPLIANT);
    expect(
      sandboxTaskIsolated(task('Other', { containerDefinitions: [{ name: 'web', image: 'x', privileged: true }] })),
    ).toBe(NagRuleCompliance.NOT_APPLICABLE);
    expect(
      sandboxTaskIsolated(
        task('Dirty', {
          taskRoleArn: 'arn:aws:iam::123456789012:role/x',
          networkMode: 'host',
          containerDefinitions: [
            container({
              privileged: true,
              secrets: [{ name: 'KEY', valueFrom: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k' }],
            }),
            { name: 'side', image: 'y', environmentFiles: [{ type: 's3', value: 'arn:aws:s3:::b/env' }] },
          ],
          volumes: [
            { name: 'host', host: { sourcePath: '/' } },
            { name: 'efs', efsVolumeConfiguration: { filesystemId: 'fs-1' } },
          ],
        }),
      ),
    ).toEqual([
      'task-role',
      'network-mode:host',
      'secrets:workspace',
      'privileged:workspace',
      'environment-files:side',
      'host-volume:host',
      'efs-volume:efs',
    ]);
    const report = new LooprailChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toContain('Looprail-SandboxTaskIsolated[task-role]');
  });
});
