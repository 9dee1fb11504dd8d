import { LambdaClient } from '@aws-sdk/client-lambda';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { LambdaMcpHosts } from '../../adapters/mcp/host-client.ts';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { identitiesOf } from '../../core/definitions/identity.ts';
import { ConfigurationError, ToolUnavailableError } from '../../core/errors.ts';
import { McpHostEnv } from '../../functions/_shared/env-contract.ts';
import { McpHosts } from '../../infra/constructs/mcp-hosts.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';
import { startBundle, type RunningBundle } from '../support/bundle-runner.ts';
import { startFakeLambda, type FakeLambda } from '../support/fake-lambda.ts';
import { startFakeS3, type FakeS3 } from '../support/fake-s3.ts';

/**
 * The default org's MCP servers as the stack deploys them: the McpHosts construct over
 * agents/, synthesized with bundling and the nag packs, then each host's bundled asset run
 * on Node 22 (a fresh process per cold start) behind a Lambda Invoke stand-in, with the
 * real reference servers and the state bucket on an S3 stand-in, both on 127.0.0.1.
 */

const ROOT = join(import.meta.dirname, '../..');
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;
const scratch = mkdtempSync(join(tmpdir(), 'looprail-mcp-hosts-'));

interface Synthesized {
  template: Template;
  /** By server: its asset folder and its environment from the template. */
  assets: Map<string, { dir: string; environment: Record<string, unknown> }>;
}

function synthesize(catalog: Catalog): Synthesized {
  const app = new App({
    outdir: join(scratch, 'cdk.out'),
    context: { ...CDK_CONTEXT, 'aws:cdk:enable-asset-metadata': true },
  });
  const stack = new Stack(app, 'Hosts', { env: { account: '123456789012', region: 'us-east-1' } });
  const agentRoles = new Map(
    identitiesOf(catalog).map((identity) => [
      identity.name,
      new Role(stack, `Agent-${identity.name.replace(/\W/g, '')}`, {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      }),
    ]),
  );
  new McpHosts(stack, 'McpHosts', { catalog, agentRoles });
  // As infra/app.ts: any unacknowledged finding fails the synth.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new LooprailChecks(app));
  const assembly = app.synth();
  const template = Template.fromStack(stack);
  const assets = new Map<string, { dir: string; environment: Record<string, unknown> }>();
  for (const resource of Object.values(template.findResources('AWS::Lambda::Function'))) {
    const environment = resource.Properties.Environment.Variables as Record<string, unknown>;
    const server = (JSON.parse(String(environment.LOOPRAIL_MCP_SERVER)) as { name: string }).name;
    assets.set(server, { dir: join(assembly.directory, resource.Metadata['aws:asset:path']), environment });
  }
  return { template, assets };
}

let synthesized: Synthesized;
let catalog: Catalog;
beforeAll(async () => {
  const loaded = await loadOrgFolder(join(ROOT, 'agents'), ROOT);
  expect(loaded.problems.filter((p) => p.severity === 'error')).toEqual([]);
  catalog = loaded.catalog!;
  synthesized = synthesize(catalog);
}, 180_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('McpHosts over the default org', () => {
  it('bundles each server into its host with the files its arguments name', () => {
    expect([...synthesized.assets.keys()].sort()).toEqual(['ci-reports', 'team-memory']);
    for (const { dir } of synthesized.assets.values()) {
      expect(existsSync(join(dir, 'index.mjs')), dir).toBe(true);
      // The whole server in one module: the MCP SDK's methods inside, nothing left to import from node_modules.
      const server = readFileSync(join(dir, 'server.mjs'), 'utf8');
      expect(server.includes('tools/call'), `${dir}/server.mjs holds an MCP server`).toBe(true);
      expect(/from ?["']@modelcontextprotocol\//.test(server), `${dir}/server.mjs imports nothing`).toBe(false);
    }
    const reports = synthesized.assets.get('ci-reports')!;
    const shipped = join(reports.dir, 'data/agents/demo/ci-reports');
    expect(readdirSync(shipped).sort()).toEqual(readdirSync(join(ROOT, 'agents/demo/ci-reports')).sort());
    const spec = McpHostEnv.parse(reports.environment).LOOPRAIL_MCP_SERVER;
    expect(spec).toMatchObject({ program: 'server.mjs', args: ['data/agents/demo/ci-reports'] });
    expect(spec.read_only_tools).toEqual(['list_directory', 'read_text_file', 'search_files', 'get_file_info']);
  });

  it('keeps only stateful servers in the bucket, one container at a time, each under its own prefix', () => {
    const { template } = synthesized;
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: Match.objectLike({}),
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    const memory = synthesized.assets.get('team-memory')!.environment;
    const reports = synthesized.assets.get('ci-reports')!.environment;
    expect(memory.LOOPRAIL_MCP_STATE_BUCKET).toBeDefined();
    expect(reports.LOOPRAIL_MCP_STATE_BUCKET).toBeUndefined();
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    const concurrency = (server: string) =>
      functions.find((fn) => String(fn.Properties.Environment.Variables.LOOPRAIL_MCP_SERVER).includes(`"${server}"`))!
        .Properties.ReservedConcurrentExecutions;
    expect(concurrency('team-memory')).toBe(1);
    expect(concurrency('ci-reports')).toBeUndefined();
    const statements = policyStatements(template);
    const s3 = statements.filter((statement) => JSON.stringify(statement.Action).includes('s3:'));
    expect(s3.map((statement) => statement.Action).sort()).toEqual([
      ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
      's3:ListBucket',
    ]);
    expect(JSON.stringify(s3)).toContain('/team-memory/*');
    expect(statements.some((statement) => JSON.stringify(statement.Action).includes('secretsmanager'))).toBe(false);
  });

  it('lets exactly the roles of the agents that declare a server invoke its host', () => {
    const invokes = Object.entries(synthesized.template.findResources('AWS::IAM::Policy')).flatMap(([id, policy]) =>
      (policy.Properties.PolicyDocument.Statement as Array<{ Action: unknown; Resource: unknown }>)
        .filter((statement) => statement.Action === 'lambda:InvokeFunction')
        .map((statement) => ({ id, hosts: JSON.stringify(statement.Resource) })),
    );
    // morning-triage and its checker each declare both servers.
    expect(invokes.map((each) => each.id).sort()).toEqual([
      expect.stringMatching(/^AgentmorningtriageDefaultPolicy/),
      expect.stringMatching(/^AgentmorningtriagetriagereviewerDefaultPolicy/),
    ]);
    for (const { hosts } of invokes) expect(hosts).toMatch(/Hostcireports.*Hostteammemory/);
  });

  it('refuses a server that cannot be hosted, naming it', () => {
    const broken: Catalog = structuredClone(catalog);
    const server = broken.servers['ci-reports']!;
    if (server.transport.type === 'stdio') server.transport.command = 'mcp-server-filesystm';
    expect(
      () => new McpHosts(new Stack(new App(), 'Broken'), 'McpHosts', { catalog: broken, agentRoles: new Map() }),
    ).toThrow(
      /MCP server "ci-reports" cannot run on AWS: "mcp-server-filesystm" is not a bin of an installed Node package/,
    );
  });
});

describe('the bundled hosts, invoked as the steps invoke them', { timeout: 60_000 }, () => {
  const BUCKET = 'looprail-mcp-state';
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'fake-secret' };
  let s3: FakeS3;
  let lambda: FakeLambda;
  const containers: Partial<Record<string, RunningBundle>> = {};
  let gateway: McpToolGateway;
  let memoryInFlight = 0;
  let memoryMostInFlight = 0;

  /** A cold start: a fresh process with a fresh /tmp state folder, the template's environment. */
  function coldStart(server: string): RunningBundle {
    const { dir, environment } = synthesized.assets.get(server)!;
    const variables = Object.fromEntries(
      Object.entries(environment).map(([name, value]) => [name, typeof value === 'string' ? value : BUCKET]),
    );
    containers[server] = startBundle(dir, {
      ...variables,
      LOOPRAIL_STATE_DIR: mkdtempSync(join(scratch, `tmp-${server}-`)),
      LOOPRAIL_LOG_LEVEL: 'warn',
      AWS_ENDPOINT_URL: s3.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    });
    return containers[server]!;
  }

  beforeAll(async () => {
    s3 = await startFakeS3(new Map(), { writable: [BUCKET] });
    lambda = await startFakeLambda({
      'host-team-memory': async (event) => {
        // As Lambda's reserved concurrency 1 would: count how many invocations overlap.
        memoryInFlight++;
        memoryMostInFlight = Math.max(memoryMostInFlight, memoryInFlight);
        try {
          return await containers['team-memory']!.invoke(event);
        } finally {
          memoryInFlight--;
        }
      },
      'host-ci-reports': (event) => containers['ci-reports']!.invoke(event),
      'host-crashing': () => Promise.reject(new Error('Runtime exited with error: signal: killed')),
    });
    coldStart('team-memory');
    coldStart('ci-reports');
    const client = new LambdaClient({ region: 'us-east-1', endpoint: lambda.url, credentials, maxAttempts: 1 });
    const hosts = new LambdaMcpHosts(
      {
        'team-memory': 'host-team-memory',
        'ci-reports': 'host-ci-reports',
        ghost: 'host-ghost',
        crashing: 'host-crashing',
      },
      () => client,
    );
    gateway = new McpToolGateway({ secrets: new LocalSecretStore(), hosts });
  });
  afterAll(async () => {
    await Promise.all(Object.values(containers).map((container) => container?.stop()));
    await lambda?.close();
    await s3?.close();
  });

  it('lists and calls the filesystem server over its shipped reports', async () => {
    const server = catalog.servers['ci-reports']!;
    const tools = await gateway.listTools(server);
    expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(['list_directory', 'read_text_file']));
    const listing = await gateway.callTool(server, 'list_directory', { path: '.' }, { timeoutMs: 10_000 });
    expect(listing).toMatchObject({ isError: false, content: expect.stringContaining('nightly-2026-11-23.log') });
    const report = await gateway.callTool(
      server,
      'read_text_file',
      { path: 'nightly-2026-11-23.log' },
      { timeoutMs: 10_000 },
    );
    expect(report.content).toBe(readFileSync(join(ROOT, 'agents/demo/ci-reports/nightly-2026-11-23.log'), 'utf8'));
    // Read-only and stateless: nothing was written anywhere.
    expect(s3.writes).toEqual([]);
  });

  it("keeps the memory server's state across a cold start, saving only after calls that may write", async () => {
    const server = catalog.servers['team-memory']!;
    const entity = { name: 'triage-test', entityType: 'triage', observations: ['written before the cold start'] };
    const created = await gateway.callTool(server, 'create_entities', { entities: [entity] }, { timeoutMs: 10_000 });
    expect(created.isError, created.content).toBe(false);
    expect(s3.writes).toEqual([`PUT ${BUCKET}/team-memory/team-memory.jsonl`]);
    await gateway.callTool(server, 'read_graph', {}, { timeoutMs: 10_000 });
    expect(s3.writes).toHaveLength(1);

    await containers['team-memory']!.stop();
    coldStart('team-memory');
    const graph = await gateway.callTool(server, 'read_graph', {}, { timeoutMs: 10_000 });
    expect(graph.content).toContain('written before the cold start');
  });

  it("sends one step's calls to a stateful server one at a time, so they never throttle each other", async () => {
    const server = catalog.servers['team-memory']!;
    memoryMostInFlight = 0;
    const notes = ['a', 'b', 'c'].map((name) => ({
      name: `parallel-${name}`,
      entityType: 'note',
      observations: [name],
    }));
    const results = await Promise.all(
      notes.map((note) => gateway.callTool(server, 'create_entities', { entities: [note] }, { timeoutMs: 10_000 })),
    );
    expect(results.map((result) => result.isError)).toEqual([false, false, false]);
    expect(memoryMostInFlight).toBe(1);
    const graph = await gateway.callTool(server, 'read_graph', {}, { timeoutMs: 10_000 });
    for (const note of notes) expect(graph.content).toContain(note.name);
  });

  it('answers an unknown tool as data, a bad request as a validation error, and a missing host as permanent', async () => {
    const server = catalog.servers['team-memory']!;
    const unknown = await gateway.callTool(server, 'no_such_tool', {}, { timeoutMs: 10_000 });
    expect(unknown.isError).toBe(true);
    expect(await containers['team-memory']!.invoke({ op: 'drop_tables' })).toMatchObject({
      ok: false,
      error: { name: 'looprail.ValidationError' },
    });
    const ghost = { ...server, name: 'ghost' };
    const error = await gateway.listTools(ghost).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).not.toBeInstanceOf(ToolUnavailableError);
    expect((error as Error).message).toMatch(
      /MCP server "ghost": its host "host-ghost" could not be invoked: ResourceNotFoundException/,
    );
  });

  it('reports a host that crashed, or could not reach its state, as unavailable (worth a retry)', async () => {
    const crashing = { ...catalog.servers['team-memory']!, name: 'crashing' };
    const crashed = await gateway.listTools(crashing).catch((caught: unknown) => caught);
    expect(crashed).toBeInstanceOf(ToolUnavailableError);
    expect((crashed as Error).message).toMatch(
      /^MCP server "crashing": its host failed \(Unhandled\): .*signal: killed/,
    );

    const { dir, environment } = synthesized.assets.get('team-memory')!;
    const stranded = startBundle(dir, {
      LOOPRAIL_MCP_SERVER: String(environment.LOOPRAIL_MCP_SERVER),
      LOOPRAIL_MCP_STATE_BUCKET: 'no-such-bucket',
      LOOPRAIL_STATE_DIR: mkdtempSync(join(scratch, 'tmp-stranded-')),
      LOOPRAIL_LOG_LEVEL: 'silent',
      AWS_ENDPOINT_URL: s3.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    });
    try {
      const answer = (await stranded.invoke({ op: 'listTools' })) as {
        ok: boolean;
        error?: { name: string; message: string };
      };
      expect(answer.ok).toBe(false);
      expect(answer.error?.name).toBe('looprail.ToolUnavailable');
      expect(answer.error?.message).toMatch(/^MCP host failed: .*bucket/i);
    } finally {
      await stranded.stop();
    }
  });
});

function policyStatements(template: Template): Array<{ Action: unknown; Resource: unknown }> {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement,
  );
}
