import { App } from 'aws-cdk-lib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { LooprailStack } from '../../infra/stacks/looprail-stack.ts';

/**
 * Physical names are scoped to the stack: two stacks in one account (names that share a long
 * start, or the same name in two Regions) share none, and what the stack keeps on delete is
 * named for that creation of the stack, so deploying it again after a delete finds nothing
 * in its way. Built from the sandbox fixture org, so the sandbox resources are there too.
 */

const ROOT = join(import.meta.dirname, '../..');
const ORG = join(ROOT, 'test/fixtures/sandbox-org');
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;
const { catalog: loaded } = await loadOrgFolder(ORG);
const catalog = loaded!;
// A budget with a daily alarm, so alarm names are compared too.
catalog.budgets.budgets.push({
  name: 'coder-daily',
  agent: 'coder',
  period: 'day',
  limit_usd: 5,
  alert_thresholds: [0.8],
  alerts: [],
  on_exhausted: 'stop',
});

type Resource = { Type: string; DeletionPolicy?: string; Properties?: Record<string, unknown> };

/** Properties that are not a resource's own account-visible name. */
const NOT_PHYSICAL = new Set([
  'DisplayName',
  'MetricName',
  'PolicyName',
  'ServiceName',
  'StageName',
  'OperatingSystemFamily',
]);

/** Every name-like top-level property that is a value of its own (not a reference to another resource). */
function physicalNames(resources: Record<string, Resource>): Array<{ where: string; value: string }> {
  return Object.entries(resources).flatMap(([id, resource]) =>
    Object.entries(resource.Properties ?? {})
      .filter(([key]) => /(Name|Prefix|Family)$/.test(key) && !NOT_PHYSICAL.has(key))
      .filter(([, value]) => typeof value === 'string' || (value as Record<string, unknown>)['Fn::Join'] !== undefined)
      .map(([key, value]) => ({ where: `${resource.Type} ${id}.${key}`, value: JSON.stringify(value) })),
  );
}

function synthesize(
  stacks: Array<{ name: string; region?: string }>,
  org: { catalog: typeof catalog; dir: string } = { catalog, dir: ORG },
): Array<Record<string, Resource>> {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const built = stacks.map(
    ({ name, region }) =>
      new LooprailStack(app, `${name}${region ?? ''}`, {
        stackName: name,
        env: { account: '123456789012', region: region ?? 'eu-west-1' },
        catalog: org.catalog,
        orgDir: org.dir,
        bundle: false,
      }),
  );
  const assembly = app.synth();
  return built.map((stack) => assembly.getStackArtifact(stack.artifactId).template.Resources);
}

function shared(a: Record<string, Resource>, b: Record<string, Resource>): string[] {
  const theirs = new Set(physicalNames(b).map((name) => name.value));
  return physicalNames(a)
    .filter((name) => theirs.has(name.value))
    .map((name) => `${name.where} = ${name.value}`);
}

describe('physical names', () => {
  const [one, two] = synthesize([{ name: 'LooprailProductionStackOne' }, { name: 'LooprailProductionStackTwo' }]);

  it('finds the named resources (the check has something to compare)', () => {
    const types = new Set(physicalNames(one!).map((name) => name.where.split(' ')[0]));
    for (const type of [
      'AWS::IAM::Role',
      'AWS::Logs::LogGroup',
      'AWS::StepFunctions::StateMachine',
      'AWS::CloudWatch::Alarm',
      'AWS::ECR::PullThroughCacheRule',
      'AWS::ECR::Repository',
      'AWS::ECS::TaskDefinition',
      'AWS::Route53Resolver::FirewallRuleGroupAssociation',
    ])
      expect(types, type).toContain(type);
  });

  it('are never the same in two stacks of one account, even when their names share a long start', () => {
    expect(shared(one!, two!)).toEqual([]);
  });

  it("are never the same in two stacks of the default org (schedules, webhooks, its agents' roles)", async () => {
    const dir = join(ROOT, 'agents');
    const { catalog: defaults } = await loadOrgFolder(dir);
    const [first, second] = synthesize([{ name: 'Looprail' }, { name: 'LooprailStaging' }], {
      catalog: defaults!,
      dir,
    });
    expect(physicalNames(first!).some((name) => name.where.startsWith('AWS::IAM::Role'))).toBe(true);
    expect(shared(first!, second!)).toEqual([]);
  });

  it('are never the same for account-wide resources (IAM) of the same stack in two Regions', () => {
    const [west, east] = synthesize([
      { name: 'Looprail', region: 'eu-west-1' },
      { name: 'Looprail', region: 'us-east-1' },
    ]);
    const roles = (resources: Record<string, Resource>) =>
      physicalNames(resources).filter((name) => name.where.startsWith('AWS::IAM::'));
    expect(roles(west!).length).toBeGreaterThan(0);
    const eastRoles = new Set(roles(east!).map((name) => name.value));
    expect(roles(west!).filter((name) => eastRoles.has(name.value))).toEqual([]);
  });

  it("name what the stack keeps on delete after this creation of the stack (its id), so a redeploy doesn't collide", () => {
    const kept = Object.entries(one!).filter(([, resource]) => resource.DeletionPolicy === 'Retain');
    const named = physicalNames(Object.fromEntries(kept));
    expect(named.some((name) => name.where.startsWith('AWS::Logs::LogGroup'))).toBe(true);
    for (const name of named) expect(name.value, name.where).toContain('AWS::StackId');
  });

  it("stay within each service's limits for a long stack name", () => {
    const long = `Looprail${'x'.repeat(100)}`;
    const [resources] = synthesize([{ name: long }]);
    for (const [, resource] of Object.entries(resources!)) {
      const props = resource.Properties ?? {};
      if (resource.Type === 'AWS::IAM::Role' && typeof props.RoleName === 'string')
        expect((props.RoleName as string).length).toBeLessThanOrEqual(64);
      if (resource.Type === 'AWS::ECR::PullThroughCacheRule') {
        expect(props.EcrRepositoryPrefix).toMatch(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/);
        expect((props.EcrRepositoryPrefix as string).length).toBeLessThanOrEqual(30);
      }
      if (resource.Type === 'AWS::StepFunctions::StateMachine')
        expect((props.StateMachineName as string).length).toBeLessThanOrEqual(80);
      if (resource.Type === 'AWS::ApiGatewayV2::Api') expect((props.Name as string).length).toBeLessThanOrEqual(128);
      if (resource.Type === 'AWS::Route53Resolver::FirewallRuleGroupAssociation')
        expect((props.Name as string).length).toBeLessThanOrEqual(64);
    }
  });
});
