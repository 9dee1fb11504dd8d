import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fileURLToPath } from 'node:url';
import { SKILLS_ASSET_FOLDER } from '../../adapters/catalog/org-skills.ts';
import { customResourceHandler, type CustomResourceOptions } from '../../adapters/cloudformation/custom-resource.ts';
import { publishDeployedSkills, type PublisherDeps } from '../../adapters/cloudformation/skills-resource.ts';
import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { SkillsPublisherEnv } from '../_shared/env-contract.ts';

/**
 * The skills registry's custom resource at deploy (adapters/cloudformation/skills-resource.ts
 * has what each request does): the stack's registry, its principal, and the org folder
 * beside this bundle in the asset. Every request is answered at its ResponseURL, errors too.
 */

/** The handler over its dependencies, built on the first request so that a bad environment is answered too. */
export function skillsPublisherHandler(deps: () => PublisherDeps, options: CustomResourceOptions) {
  return customResourceHandler((event) => publishDeployedSkills(deps(), event), options);
}

export function publisherDepsFromEnv(env: Record<string, string | undefined>): PublisherDeps {
  const e = SkillsPublisherEnv.parse(env);
  return {
    store: new DynamoSkillStore({ client: new DynamoDBClient({}), tableName: e.LOOPRAIL_TABLE_NAME }),
    orgDir: fileURLToPath(new URL(`./${SKILLS_ASSET_FOLDER}/`, import.meta.url)),
    principal: e.LOOPRAIL_SKILLS_PUBLISHER,
    log: jsonLogger(e.LOOPRAIL_LOG_LEVEL),
  };
}

let deps: PublisherDeps | undefined;
const level = SkillsPublisherEnv.shape.LOOPRAIL_LOG_LEVEL.safeParse(process.env.LOOPRAIL_LOG_LEVEL).data ?? 'info';

export const handler = skillsPublisherHandler(() => (deps ??= publisherDepsFromEnv(process.env)), {
  log: jsonLogger(level),
});
