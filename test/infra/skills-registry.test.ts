import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, type NagPack } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { verifiedSkill } from '../../core/skills/registry.ts';
import { RunTable } from '../../infra/constructs/run-table.ts';
import { SKILLS_RESOURCE_TYPE, SkillsRegistry } from '../../infra/constructs/skills-registry.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';
import { LooprailStack } from '../../infra/stacks/looprail-stack.ts';
import { testTable } from '../support/dynamodb.ts';
import { RUNTIME_SDK_RESOLVE, runtimeSdk } from '../support/runtime-sdk.ts';

/**
 * The skills registry on AWS (infra/constructs/skills-registry.ts): the default org's pinned
 * skill is published at deploy by a custom resource whose function's asset carries the
 * skill's folder; synth refuses a pin the deploy could not publish, naming it.
 */

const ROOT = join(import.meta.dirname, '../..');
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;
const ENV = { account: '123456789012', region: 'eu-west-1' };
const scratch = mkdtempSync(join(tmpdir(), 'looprail-skills-registry-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function catalogOf(orgDir: string): Promise<Catalog> {
  const { catalog, problems } = await loadOrgFolder(orgDir, ROOT);
  expect(problems.filter((problem) => problem.severity === 'error')).toEqual([]);
  return catalog!;
}

function templateStack(catalog: Catalog, orgDir: string) {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new LooprailStack(app, 'Looprail', { env: ENV, catalog, orgDir });
  return { app, stack, template: Template.fromStack(stack) };
}

/** A copy of an org folder to change. */
function copyOrg(from: string): string {
  const dir = mkdtempSync(join(scratch, 'org-'));
  cpSync(join(ROOT, from), dir, { recursive: true });
  return dir;
}

function nagViolations(pack: NagPack, app: App): string[] {
  return pack
    .validateScope(app)
    .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
}

describe('the default org deployed', () => {
  let built: ReturnType<typeof templateStack>;
  beforeAll(async () => {
    built = templateStack(await catalogOf('agents'), join(ROOT, 'agents'));
  });

  it('publishes its pinned skill through a custom resource whose properties change with the content', () => {
    const { stack, template } = built;
    const [resource, ...others] = Object.values(template.findResources(SKILLS_RESOURCE_TYPE));
    expect(others).toEqual([]);
    const publisher = stack.getLogicalId(stack.skills!.publisher.function.node.defaultChild as never);
    expect(resource!.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': [publisher, 'Arn'] },
      ServiceTimeout: '300',
      Skills: ['ci-triage-runbook@2.0.0'],
      ContentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(resource!.DeletionPolicy).toBe('Delete');
    const fn = template.toJSON().Resources[publisher];
    expect(fn.Properties.Environment.Variables).toMatchObject({
      LOOPRAIL_SKILLS_PUBLISHER: 'cdk:Looprail',
      LOOPRAIL_TABLE_NAME: { Ref: expect.stringMatching(/^RunTable/) },
    });
  });

  it('lets the publisher read and write skill items of the run table, and nothing else', () => {
    const { stack, template } = built;
    const policy = stack.skills!.publisher.role.node.tryFindChild('DefaultPolicy') as {
      node: { defaultChild?: unknown };
    };
    const statements = template.toJSON().Resources[stack.getLogicalId(policy.node.defaultChild as never)].Properties
      .PolicyDocument.Statement as Array<Record<string, unknown>>;
    const table = stack.getLogicalId(stack.table.table.node.defaultChild as never);
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      Resource: { 'Fn::GetAtt': [table, 'Arn'] },
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SKILL#*'] } },
    });
    const actions = statements.flatMap((s) => [s.Action].flat() as string[]);
    expect(actions.sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
  });

  it('passes cdk-nag AwsSolutions and the looprail pack', () => {
    expect(nagViolations(new AwsSolutionsChecks(), built.app)).toEqual([]);
    expect(nagViolations(new LooprailChecks(), built.app)).toEqual([]);
  });

  it('changes the content hash when a skill changes, so an update publishes it', async () => {
    // The brief's org keeps no lock file: a changed folder is still a valid pin.
    const org = copyOrg('test/fixtures/brief-org');
    const hashOf = async () =>
      Object.values(templateStack(await catalogOf(org), org).template.findResources(SKILLS_RESOURCE_TYPE))[0]!
        .Properties.ContentHash as string;
    const before = await hashOf();
    const skill = join(org, 'skills/ci-triage-runbook/SKILL.md');
    writeFileSync(skill, `${readFileSync(skill, 'utf8')}- One more rule.\n`);
    expect(await hashOf()).not.toBe(before);
  });

  it('deploys no publisher when no agent pins a skill', async () => {
    const { template } = templateStack(await catalogOf('test/fixtures/delegation-org'), 'test/fixtures/delegation-org');
    template.resourceCountIs(SKILLS_RESOURCE_TYPE, 0);
  });
});

describe('synth refuses a pin the deploy could not publish, naming it', () => {
  const refusal = async (org: string) => {
    const catalog = await catalogOf(org);
    return () => templateStack(catalog, org);
  };
  const pin = (org: string) => `${join(org, 'morning-triage.yaml')}:12:12: agent.skills[0]: skill ci-triage-runbook@v2`;

  it('when the org folder has no folder for the pinned skill', async () => {
    const org = copyOrg('agents');
    rmSync(join(org, 'skills'), { recursive: true });
    expect(await refusal(org)).toThrow(
      `${pin(org)} cannot be published by this deploy: the org folder has no ${org}/skills/ci-triage-runbook/ to publish it from`,
    );
  });

  it('when the folder is not the version the lock file pins', async () => {
    const org = copyOrg('agents');
    const skill = join(org, 'skills/ci-triage-runbook/SKILL.md');
    writeFileSync(skill, readFileSync(skill, 'utf8').replace('version: 2.0.0', 'version: 2.0.1'));
    expect(await refusal(org)).toThrow(
      `${pin(org)} cannot be published by this deploy: looprail.lock.yaml locks it to 2.0.0, but ${org}/skills/ci-triage-runbook is version 2.0.1`,
    );
  });

  it('when the folder changed under its locked version', async () => {
    const org = copyOrg('agents');
    const skill = join(org, 'skills/ci-triage-runbook/SKILL.md');
    writeFileSync(skill, `${readFileSync(skill, 'utf8')}- One more rule.\n`);
    expect(await refusal(org)).toThrow(/is not the 2\.0\.0 that looprail\.lock\.yaml locked \(sha256:9ec02048/);
  });

  it("when skills.yaml's owners would refuse the stack as publisher", async () => {
    const org = copyOrg('agents');
    writeFileSync(join(org, 'skills.yaml'), 'skills:\n  ci-triage-runbook:\n    owners: [noor@example.com]\n');
    expect(await refusal(org)).toThrow(
      `${pin(org)} cannot be published by this deploy: cdk:Looprail may not publish skill "ci-triage-runbook": its owners in skills.yaml are noor@example.com; add "cdk:Looprail" (or "cdk:*") to them`,
    );
  });

  it('when the stack is not told the org folder to publish from', async () => {
    const catalog = await catalogOf('agents');
    const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
    expect(() => new LooprailStack(app, 'Looprail', { env: ENV, catalog })).toThrow(
      'agents pin skills: orgDir (the org folder to publish them from) is required',
    );
  });

  it('as `node infra/app.ts` (cdk synth): exit 1, the pin on one line, nothing synthesized', () => {
    const org = copyOrg('agents');
    writeFileSync(join(org, 'skills.yaml'), 'skills:\n  ci-triage-runbook:\n    owners: [noor@example.com]\n');
    const outdir = mkdtempSync(join(scratch, 'out-'));
    const result = spawnSync(process.execPath, ['infra/app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 90_000,
      env: {
        ...process.env,
        PATH: [join(ROOT, 'node_modules/.bin'), dirname(process.execPath), process.env.PATH].join(delimiter),
        CDK_CONTEXT_JSON: JSON.stringify({ 'looprail:agents': org }),
        CDK_OUTDIR: outdir,
      },
    });
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toContain(`looprail: ${pin(org)} cannot be published by this deploy: cdk:Looprail may not`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(outdir, 'Looprail.template.json'))).toBe(false);
  }, 120_000);
});

function runNode(args: string[], options: SpawnOptions): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** A ResponseURL on 127.0.0.1 that keeps every answer. */
function responseUrl(): Promise<{ server: Server; url: string; answers: Array<Record<string, unknown>> }> {
  const answers: Array<Record<string, unknown>> = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      answers.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      response.writeHead(200).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, answers, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/response` }),
    ),
  );
}

describe('the bundled publisher', { timeout: 180_000 }, () => {
  it('carries the pinned skill folder in its asset and publishes it when CloudFormation creates the resource', async () => {
    // Asset metadata as `cdk synth` writes it (the CLI sets this context): the template names each asset's folder.
    const context = { ...CDK_CONTEXT, 'aws:cdk:enable-asset-metadata': true };
    const app = new App({ context, outdir: join(scratch, 'cdk.out') });
    const stack = new Stack(app, 'Skills', { env: ENV });
    const registry = new SkillsRegistry(stack, 'SkillsRegistry', {
      catalog: await catalogOf('agents'),
      orgDir: join(ROOT, 'agents'),
      table: new RunTable(stack, 'RunTable'),
    });
    const assembly = app.synth();
    const template = Template.fromStack(stack).toJSON();
    const fn = template.Resources[stack.getLogicalId(registry.publisher.function.node.defaultChild as never)];
    const asset = join(assembly.directory, fn.Metadata['aws:asset:path'] as string);
    expect(readFileSync(join(asset, 'org/skills/ci-triage-runbook/SKILL.md'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'agents/skills/ci-triage-runbook/SKILL.md'), 'utf8'),
    );
    expect(readFileSync(join(asset, 'org/skills.yaml'), 'utf8')).toContain('cdk:*');

    // The bundle as Lambda runs it: a fresh Node, the template's environment, its own folder, the runtime's SDK.
    const table = await testTable();
    const { server, url, answers } = await responseUrl();
    const resource = Object.entries(template.Resources).find(
      ([, r]) => (r as { Type: string }).Type === SKILLS_RESOURCE_TYPE,
    )!;
    const event = {
      RequestType: 'Create',
      ResponseURL: url,
      StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Skills/guid',
      RequestId: 'create-1',
      LogicalResourceId: resource[0],
      ResourceType: SKILLS_RESOURCE_TYPE,
      ResourceProperties: { ...(resource[1] as { Properties: object }).Properties, ServiceToken: 'arn:fn' },
    };
    const run = `const { handler } = await import(${JSON.stringify(join(asset, 'index.mjs'))}); await handler(${JSON.stringify(event)}, { getRemainingTimeInMillis: () => 120000 });`;
    // Not spawnSync: this process must stay free to take the answer at the ResponseURL.
    const child = await runNode(['--import', RUNTIME_SDK_RESOLVE, '--input-type=module', '-e', run], {
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        NODE_PATH: runtimeSdk(join(assembly.directory, 'lambda-runtime')),
        LOOPRAIL_TABLE_NAME: table.tableName,
        LOOPRAIL_SKILLS_PUBLISHER: 'cdk:Skills',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_DYNAMODB: inject('dynamodbEndpoint'),
      },
    });
    server.close();
    expect(child.code, child.output).toBe(0);
    expect(answers).toEqual([expect.objectContaining({ Status: 'SUCCESS', LogicalResourceId: resource[0] })]);
    const store = new DynamoSkillStore({ client: table.client, tableName: table.tableName });
    const record = await verifiedSkill(store, { name: 'ci-triage-runbook', version: '2.0.0' });
    expect(record.publisher).toBe('cdk:Skills');
    // What looprail.lock.yaml locked: the deployed run finds exactly this version.
    expect(record.sha256).toBe('9ec02048f2283e73c36fe28cf749ee3fcb5bd533ba6242f28f5000fb0476201b');
  });
});
