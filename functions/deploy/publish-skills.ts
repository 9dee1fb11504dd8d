import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { formatProblem } from '../../core/definitions/problems.ts';
import type { Logger } from '../../core/ports/logger.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import { publishOrgSkills, resultRef, SKILLS_ASSET_FOLDER } from '../../adapters/catalog/org-skills.ts';
import { loadSkillsPolicy } from '../../adapters/catalog/skill-folder.ts';
import {
  customResourceHandler,
  type CustomResourceOptions,
  type CustomResourceResult,
} from '../../adapters/cloudformation/custom-resource.ts';
import type { CustomResourceEvent } from '../../adapters/cloudformation/respond.ts';
import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { SkillsPublisherEnv } from '../_shared/env-contract.ts';

/**
 * The skills registry's custom resource (infra/constructs/skills-registry.ts): at deploy,
 * Create and Update publish every pinned skill version its asset carries that the stack's
 * registry does not have yet, as the stack's principal and under the org's owners policy,
 * as `looprail skills publish` would. A version already published with the same content is
 * fine; with other content the deploy fails naming it (versions are immutable). Delete
 * leaves the registry alone: published versions are immutable records, which runs of
 * other deployments and traces point to.
 */

export interface PublisherDeps {
  store: SkillStore;
  /** The org folder in the asset: `skills.yaml` and the pinned `skills/<name>/`. */
  orgDir: string;
  principal: string;
  log: Logger;
  now?: () => Date;
}

/** `Skills` in the resource's properties: what synth put in the asset, checked against it. */
const ExpectedSkills = z.array(z.string().regex(/^[a-z][a-z0-9-]*@\S+$/, 'expected name@version')).default([]);

export async function publishDeployedSkills(
  deps: PublisherDeps,
  event: CustomResourceEvent,
): Promise<CustomResourceResult> {
  if (event.RequestType === 'Delete') {
    deps.log.info('the skills registry is left as it is: published versions are immutable records');
    return {};
  }
  const expected = ExpectedSkills.safeParse(event.ResourceProperties.Skills);
  if (!expected.success)
    throw new Error(
      `ResourceProperties.Skills: ${expected.error.issues[0]?.message ?? 'expected name@version strings'}`,
    );
  const { policy, problems } = await loadSkillsPolicy(deps.orgDir);
  if (problems.length > 0) throw new Error(problems.map(formatProblem).join('\n'));
  const results = await publishOrgSkills({ ...deps, policy });
  // A folder that failed is reported as such, not again as missing.
  const carried = new Set(results.map((result) => resultRef(result) ?? result.folder.replace(/^skills\//, '')));
  const failures = [
    ...results.flatMap((result) =>
      result.outcome === 'published' || result.outcome === 'unchanged' ? [] : [`${result.folder}: ${result.message}`],
    ),
    ...expected.data
      .filter((ref) => !carried.has(ref) && !carried.has(ref.slice(0, ref.indexOf('@'))))
      .map((ref) => `${ref}: the function's asset holds no folder for this version; synthesize and deploy again`),
  ];
  const published = results.flatMap((result) => (result.outcome === 'published' ? [resultRef(result)!] : []));
  const unchanged = results.flatMap((result) => (result.outcome === 'unchanged' ? [resultRef(result)!] : []));
  deps.log.info('skills registry', { published, unchanged, failures: failures.length, principal: deps.principal });
  if (failures.length > 0) throw new Error(`skills were not published: ${failures.join('; ')}`);
  return { data: { Published: published.join(','), Unchanged: unchanged.join(',') } };
}

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
