import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { customResourceHandler } from '../../adapters/cloudformation/custom-resource.ts';
import { responseBody } from '../../adapters/cloudformation/respond.ts';
import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import { silentLogger, type Logger } from '../../core/ports/logger.ts';
import { publishOrgSkills } from '../../cli/local/seed-skills.ts';
import { deployedRefs, deployedSkillsHash } from '../../core/skills/deploy-pins.ts';
import { verifiedSkill } from '../../core/skills/registry.ts';
import { readOrgSkills } from '../../adapters/catalog/org-skills.ts';
import { publisherDepsFromEnv, skillsPublisherHandler } from '../../functions/deploy/publish-skills.ts';
import type { PublisherDeps } from '../../adapters/cloudformation/skills-resource.ts';
import { testClient, testTable } from '../support/dynamodb.ts';

/**
 * The skills registry's custom resource (functions/deploy/publish-skills.ts) as
 * CloudFormation drives it: a request event, the answer PUT to its ResponseURL (here a
 * server on 127.0.0.1), the registry in DynamoDB Local. Every path answers, errors too.
 */

const SOURCES = join(import.meta.dirname, '../fixtures/skill-sources');
const scratch = mkdtempSync(join(tmpdir(), 'looprail-skills-publisher-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Answer {
  method: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A ResponseURL: records each answer; `failFirst` answers that many requests with 503. */
class ResponseUrl {
  readonly answers: Answer[] = [];
  failFirst = 0;
  private server!: Server;

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (this.failFirst > 0) {
          this.failFirst -= 1;
          response.writeHead(503).end();
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        this.answers.push({ method: request.method!, headers: request.headers, body });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/cfn-response?X-Amz-Signature=abc`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The custom resource's properties as synth writes them for an asset's org folder. */
async function propertiesOf(org: string): Promise<{ Skills: string[]; ContentHash: string }> {
  const skills = await readOrgSkills(org);
  return { Skills: deployedRefs(skills), ContentHash: deployedSkillsHash(skills) };
}

/** An asset's org folder: `skills.yaml` with these owners and the given skill sources as `skills/<name>/`. */
function assetOrg(owners: string[], sources: string[]): string {
  const org = mkdtempSync(join(scratch, 'org-'));
  writeFileSync(join(org, 'skills.yaml'), JSON.stringify({ skills: { runbook: { owners } } }));
  for (const source of sources) cpSync(join(SOURCES, source), join(org, 'skills', 'runbook'), { recursive: true });
  mkdirSync(join(org, 'skills'), { recursive: true });
  return org;
}

const responder = new ResponseUrl();
beforeAll(() => responder.start());
afterAll(() => responder.stop());
beforeEach(() => {
  responder.answers.length = 0;
  responder.failFirst = 0;
});

let requests = 0;
function event(requestType: 'Create' | 'Update' | 'Delete', properties: Record<string, unknown> = {}) {
  requests += 1;
  return {
    RequestType: requestType,
    ResponseURL: responder.url,
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Test/0a1b2c3d',
    RequestId: `request-${requests}`,
    LogicalResourceId: 'SkillsRegistryPublished1A2B3C4D',
    ResourceType: 'Custom::LooprailSkills',
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: 'SkillsRegistryPublished1A2B3C4D' }),
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:publisher', ...properties },
  };
}

describe('the skills publisher custom resource', () => {
  let store: DynamoSkillStore;
  let tableName: string;
  beforeAll(async () => {
    const table = await testTable();
    tableName = table.tableName;
    store = new DynamoSkillStore({ client: table.client, tableName });
  });

  const handlerFor = (orgDir: string, principal = 'cdk:Test') => {
    const deps: PublisherDeps = {
      store,
      orgDir,
      principal,
      log: silentLogger,
      now: () => new Date('2026-12-06T08:00:00.000Z'),
    };
    return skillsPublisherHandler(() => deps, { log: silentLogger });
  };

  it('Create publishes each pinned version as the stack, and answers SUCCESS at the ResponseURL', async () => {
    const org = assetOrg(['cdk:*'], ['runbook-1.1.0']);
    await handlerFor(org)(event('Create', await propertiesOf(org)));
    expect(responder.answers).toHaveLength(1);
    const [answer] = responder.answers;
    expect(answer!.method).toBe('PUT');
    // The URL is signed without a content type: sending one would fail on S3.
    expect(answer!.headers['content-type']).toBeUndefined();
    expect(answer!.body).toEqual({
      Status: 'SUCCESS',
      PhysicalResourceId: 'SkillsRegistryPublished1A2B3C4D',
      StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Test/0a1b2c3d',
      RequestId: `request-${requests}`,
      LogicalResourceId: 'SkillsRegistryPublished1A2B3C4D',
      NoEcho: false,
      Data: { Published: 'runbook@1.1.0', Unchanged: '' },
    });
    const record = await verifiedSkill(store, { name: 'runbook', version: '1.1.0' });
    expect(record).toMatchObject({ publisher: 'cdk:Test', publishedAt: '2026-12-06T08:00:00.000Z' });
    expect(record.files.map((file) => file.path)).toEqual(['SKILL.md', 'checks/flaky.md']);
  });

  it('Update with a version already published with the same content succeeds and rewrites nothing', async () => {
    const before = await store.getVersion('runbook', '1.1.0');
    const org = assetOrg(['cdk:*'], ['runbook-1.1.0']);
    await handlerFor(org)(event('Update', await propertiesOf(org)));
    expect(responder.answers.map((a) => a.body.Status)).toEqual(['SUCCESS']);
    expect(responder.answers[0]!.body.Data).toEqual({ Published: '', Unchanged: 'runbook@1.1.0' });
    expect(await store.getVersion('runbook', '1.1.0')).toEqual(before);
  });

  it('fails the deploy, naming the skill and version, when that version is published with other content', async () => {
    const org = assetOrg(['cdk:*'], ['runbook-1.1.0']);
    writeFileSync(join(org, 'skills/runbook/checks/flaky.md'), 'Changed without a new version.\n');
    const before = await store.getVersion('runbook', '1.1.0');
    await handlerFor(org)(event('Update', await propertiesOf(org)));
    const [answer] = responder.answers;
    expect(answer!.body.Status).toBe('FAILED');
    expect(answer!.body.PhysicalResourceId).toBe('SkillsRegistryPublished1A2B3C4D');
    expect(answer!.body.Reason).toMatch(
      /^skills were not published: skills\/runbook: runbook@1\.1\.0 is already published with different content \(the registry has sha256:[0-9a-f]{64}, .* is sha256:[0-9a-f]{64}\); versions are immutable/,
    );
    expect(await store.getVersion('runbook', '1.1.0')).toEqual(before);
  });

  it("fails the deploy when the owners policy does not admit the stack's principal; nothing is written", async () => {
    const org = assetOrg(['noor@example.com'], ['runbook-2.0.0']);
    await handlerFor(org)(event('Create', await propertiesOf(org)));
    expect(responder.answers[0]!.body).toMatchObject({
      Status: 'FAILED',
      Reason:
        'skills were not published: skills/runbook: cdk:Test may not publish skill "runbook": its owners in skills.yaml are noor@example.com; nothing was published',
    });
    expect(await store.getVersion('runbook', '2.0.0')).toBeUndefined();
  });

  it('succeeds without publishing when a rollback names versions the registry has, which this asset does not hold', async () => {
    const previous = await propertiesOf(assetOrg(['cdk:*'], ['runbook-1.1.0']));
    await handlerFor(assetOrg(['cdk:*'], ['runbook-2.0.0']))(event('Update', previous));
    expect(responder.answers[0]!.body).toMatchObject({
      Status: 'SUCCESS',
      Data: { Published: '', Unchanged: 'runbook@1.1.0' },
    });
    expect(await store.getVersion('runbook', '2.0.0')).toBeUndefined();
  });

  it('fails when the request names content this asset does not hold and the registry lacks', async () => {
    await handlerFor(assetOrg(['cdk:*'], ['runbook-1.1.0']))(
      event('Create', { Skills: ['runbook@1.1.0', 'runbook@9.9.9'], ContentHash: 'f'.repeat(64) }),
    );
    expect(responder.answers[0]!.body).toMatchObject({
      Status: 'FAILED',
      Reason: `this function's asset does not hold the skills the request names (ContentHash ${'f'.repeat(64)}), and the registry does not have runbook@9.9.9: synthesize and deploy again`,
    });
  });

  it('fails, naming the property, when the request carries no content hash', async () => {
    await handlerFor(assetOrg(['cdk:*'], ['runbook-1.1.0']))(event('Create', { Skills: ['runbook@1.1.0'] }));
    expect(responder.answers[0]!.body).toMatchObject({
      Status: 'FAILED',
      Reason: 'ResourceProperties.ContentHash: expected the hash of the pinned skills (64 hex digits)',
    });
  });

  it('Delete answers SUCCESS and leaves every published version in the registry', async () => {
    await handlerFor(join(scratch, 'no-such-asset'))(event('Delete', { Skills: ['runbook@1.1.0'] }));
    expect(responder.answers[0]!.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: 'SkillsRegistryPublished1A2B3C4D',
    });
    expect(await store.getVersion('runbook', '1.1.0')).toBeDefined();
  });

  it('answers FAILED when the registry cannot be reached (no such table)', async () => {
    const missing = new DynamoSkillStore({ client: testClient(), tableName: 'looprail-no-such-table' });
    const deps = {
      store: missing,
      orgDir: assetOrg(['cdk:*'], ['runbook-1.0.0']),
      principal: 'cdk:Test',
      log: silentLogger,
    };
    await skillsPublisherHandler(() => deps, { log: silentLogger })(event('Create', await propertiesOf(deps.orgDir)));
    expect(responder.answers[0]!.body.Status).toBe('FAILED');
    expect(responder.answers[0]!.body.Reason).toContain('DynamoDB table looprail-no-such-table does not exist');
  });

  it('answers FAILED, naming the variable, when the environment is incomplete', async () => {
    const handler = skillsPublisherHandler(() => publisherDepsFromEnv({ LOOPRAIL_TABLE_NAME: tableName }), {
      log: silentLogger,
    });
    await handler(event('Create'));
    expect(responder.answers[0]!.body.Status).toBe('FAILED');
    expect(responder.answers[0]!.body.Reason).toContain('LOOPRAIL_SKILLS_PUBLISHER');
  });
});

describe('answering CloudFormation', () => {
  const noWork = async () => ({});

  it('answers FAILED, naming the field, for a request that is not a valid one', async () => {
    await customResourceHandler(noWork, { log: silentLogger })({ ...event('Create'), RequestType: 'Replace' });
    expect(responder.answers[0]!.body).toMatchObject({
      Status: 'FAILED',
      PhysicalResourceId: 'SkillsRegistryPublished1A2B3C4D',
      Reason: expect.stringMatching(/^not a valid custom resource request: RequestType: /),
    });
  });

  it('throws, answering nothing, for an event without a ResponseURL', async () => {
    const { ResponseURL: _, ...noUrl } = event('Create');
    await expect(customResourceHandler(noWork, { log: silentLogger })(noUrl)).rejects.toThrow(/no ResponseURL/);
    expect(responder.answers).toEqual([]);
  });

  it('answers FAILED before the function would time out', async () => {
    const hangs = () => new Promise<never>(() => {});
    const handler = customResourceHandler(hangs, { log: silentLogger, marginMs: 0 });
    await handler(event('Create'), { getRemainingTimeInMillis: () => 50 });
    expect(responder.answers[0]!.body).toMatchObject({
      Status: 'FAILED',
      Reason: "did not finish within the function's time (0 s were left)",
    });
  });

  it('tries the ResponseURL again after a server error', async () => {
    responder.failFirst = 1;
    await customResourceHandler(noWork, { log: silentLogger })(event('Delete'));
    expect(responder.answers.map((answer) => answer.body.Status)).toEqual(['SUCCESS']);
  });

  it('cuts a reason so the response stays within the 4 KB CloudFormation accepts', () => {
    const target = { ResponseURL: 'http://127.0.0.1/', StackId: 's', RequestId: 'r', LogicalResourceId: 'l' };
    const body = responseBody(target, { status: 'FAILED', reason: 'x'.repeat(10_000), physicalResourceId: 'p' });
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(4096);
    expect(JSON.parse(body).Reason).toMatch(/^x+ … \(cut; see the function's log\)$/);
  });
});

describe("the local host's registry from its org folder (the same publishing)", () => {
  it('publishes new versions, warns about a changed or refused folder, and leaves validate a bad SKILL.md', async () => {
    const table = await testTable();
    const store = new DynamoSkillStore({ client: table.client, tableName: table.tableName });
    const warnings: string[] = [];
    const log: Logger = { ...silentLogger, warn: (message) => warnings.push(message) };
    const org = assetOrg(['local:*'], ['runbook-1.0.0']);
    const policy = { skills: { runbook: { owners: ['local:*'] } } };
    const seed = () => publishOrgSkills({ store, orgDir: org, policy, principal: 'local:noor', log });

    expect(await seed()).toEqual(['runbook@1.0.0']);
    expect(await seed()).toEqual([]);
    writeFileSync(
      join(org, 'skills/runbook/SKILL.md'),
      `${readFileSync(join(org, 'skills/runbook/SKILL.md'), 'utf8')}More.\n`,
    );
    mkdirSync(join(org, 'skills/other'));
    writeFileSync(
      join(org, 'skills/other/SKILL.md'),
      '---\nname: other\ndescription: No owners\nversion: 1.0.0\n---\nText.\n',
    );
    mkdirSync(join(org, 'skills/empty'));
    expect(await seed()).toEqual([]);
    expect(warnings).toEqual([
      'skills/other was not published to the local registry: no one may publish skill "other": skills.yaml declares no owners for it; nothing was published',
      'skills/runbook differs from the published runbook@1.0.0: raise its version to publish the change',
    ]);
    expect((await store.getVersion('runbook', '1.0.0'))?.publisher).toBe('local:noor');
  });
});
