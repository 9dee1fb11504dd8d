import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CustomResource, Duration, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { formatProblem } from '../../core/definitions/problems.ts';
import type { SkillsPolicyFile } from '../../core/definitions/skills.ts';
import { SKILLS_POLICY_FILE } from '../../core/definitions/validate.ts';
import { deployedRefs, deployedSkillsHash, type DeployedSkill } from '../../core/skills/deploy-pins.ts';
import { SKILLS_ASSET_FOLDER } from '../../adapters/catalog/org-skills.ts';
import { loadPinnedSkills } from '../../adapters/catalog/pinned-skills.ts';
import { SKILL_PK_PREFIX } from '../../adapters/dynamodb/keys.ts';
import { ownEnvironment } from '../../functions/_shared/env-contract.ts';
import { HandlerFunction } from './handler-function.ts';
import type { RunTable } from './run-table.ts';
import type { LogLevel } from './step-functions.ts';

/** The custom resource's type: a stack-in-a-box host finds it by this. */
export const SKILLS_RESOURCE_TYPE = 'Custom::LooprailSkills';

export interface SkillsRegistryProps {
  readonly catalog: Catalog;
  /** The org folder the catalog was loaded from: the pinned `skills/<name>/` folders are read from it. */
  readonly orgDir: string;
  readonly table: RunTable;
  readonly logLevel?: LogLevel;
  readonly logRetention?: RetentionDays;
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The principal a stack publishes as: what `skills.yaml` owners must admit (`cdk:<stack name>` or `cdk:*`). */
export function deployPrincipal(stackName: string): string {
  return `cdk:${stackName}`;
}

/** Whether any agent pins a skill: only then is there anything to publish. */
export function pinsSkills(catalog: Catalog): boolean {
  return Object.values(catalog.agents).some((agent) => (agent.skillPins ?? []).length > 0);
}

/**
 * The skills registry of the deployed stack, filled at deploy: the skill versions the
 * agents pin travel in the publisher function's asset (validated here, at synth, with the
 * parser `looprail validate` uses), and a custom resource runs it on every Create and
 * Update (functions/deploy/publish-skills.ts). Its properties carry a hash of those
 * versions, so a changed skill re-runs it. Synth fails, naming the pin, when a pinned
 * version is not in the org folder or `skills.yaml` would refuse the stack as publisher.
 */
export class SkillsRegistry extends Construct {
  readonly publisher: HandlerFunction;
  readonly resource: CustomResource;
  readonly skills: DeployedSkill[];
  readonly principal: string;

  constructor(scope: Construct, id: string, props: SkillsRegistryProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.principal = deployPrincipal(stack.stackName);
    const { skills, problems } = loadPinnedSkills(props.catalog, props.orgDir, this.principal);
    if (problems.length > 0) throw new Error(problems.map(formatProblem).join('\n'));
    this.skills = skills;

    // The validated files, staged for the bundler to copy beside index.mjs; gone once the asset is built.
    const staged = stack.bundlingRequired ? stageOrgFolder(skills, props.catalog.skillsPolicy) : undefined;
    try {
      this.publisher = new HandlerFunction(this, 'Publisher', {
        entry: 'functions/deploy/publish-skills.ts',
        description: 'Publishes the skill versions the agents pin to the skills registry, at deploy',
        memorySize: 256,
        timeout: Duration.minutes(2),
        environment: ownEnvironment('skillsPublisher', {
          LOOPRAIL_TABLE_NAME: props.table.tableName,
          LOOPRAIL_SKILLS_PUBLISHER: this.principal,
          LOOPRAIL_LOG_LEVEL: props.logLevel ?? 'info',
        }),
        logRetention: props.logRetention,
        logRemovalPolicy: props.logRemovalPolicy,
        bundling: staged
          ? { files: [{ from: join(staged, SKILLS_ASSET_FOLDER), to: SKILLS_ASSET_FOLDER }] }
          : undefined,
      });
    } finally {
      if (staged) rmSync(staged, { recursive: true, force: true });
    }

    // Publishing reads a version (is it there, with which hash) and writes it once: skill items only.
    this.publisher.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [props.table.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${SKILL_PK_PREFIX}*`] } },
      }),
    );

    this.resource = new CustomResource(this, 'Published', {
      serviceToken: this.publisher.functionArn,
      resourceType: SKILLS_RESOURCE_TYPE,
      properties: { Skills: deployedRefs(skills), ContentHash: deployedSkillsHash(skills) },
      // The function answers well within this; CloudFormation would otherwise wait an hour for a lost answer.
      serviceTimeout: Duration.minutes(5),
    });
  }
}

/** `<tmp>/org/skills.yaml` (the validated policy; JSON is YAML) and `<tmp>/org/skills/<name>/…`. */
function stageOrgFolder(skills: readonly DeployedSkill[], policy: SkillsPolicyFile | undefined): string {
  const root = mkdtempSync(join(tmpdir(), 'looprail-skills-'));
  const org = join(root, SKILLS_ASSET_FOLDER);
  mkdirSync(org, { recursive: true });
  if (policy) writeFileSync(join(org, SKILLS_POLICY_FILE), `${JSON.stringify(policy, null, 2)}\n`);
  for (const { skill } of skills) {
    for (const file of skill.files) {
      const path = join(org, 'skills', skill.front.name, ...file.path.split('/'));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
    }
  }
  return root;
}
