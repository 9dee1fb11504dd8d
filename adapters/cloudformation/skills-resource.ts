import * as z from '../../core/definitions/zod.ts';
import { formatProblem } from '../../core/definitions/problems.ts';
import type { Logger } from '../../core/ports/logger.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import { deployedSkillsHash } from '../../core/skills/deploy-pins.ts';
import { publishOrgSkills, readOrgSkills, resultRef } from '../catalog/org-skills.ts';
import { loadSkillsPolicy } from '../catalog/skill-folder.ts';
import type { CustomResourceResult } from './custom-resource.ts';
import type { CustomResourceEvent } from './respond.ts';

/**
 * What the skills registry's custom resource does with each request (the function is
 * functions/deploy/publish-skills.ts, the resource infra/constructs/skills-registry.ts).
 * Create and Update publish every skill version the function's asset carries that the
 * stack's registry does not have yet, as the stack's principal and under the org's owners
 * policy, as `looprail skills publish` would. A version already published with the same
 * content is fine; with other content the deploy fails naming it (versions are immutable).
 * A request whose ContentHash is not the asset's is a rollback to versions already
 * published. Delete leaves the registry alone: published versions are immutable records,
 * which runs of other deployments and their traces point to.
 */

export interface PublisherDeps {
  store: SkillStore;
  /** The org folder in the asset: `skills.yaml` and the pinned `skills/<name>/`. */
  orgDir: string;
  principal: string;
  log: Logger;
  now?: () => Date;
}

const CONTENT_HASH = 'expected the hash of the pinned skills (64 hex digits)';
/** What synth put in the resource's properties: the versions it carries in the asset, and their hash. */
const Properties = z.object({
  Skills: z._default(z.array(z.string().check(z.regex(/^[a-z][a-z0-9-]*@\S+$/, 'expected name@version'))), []),
  ContentHash: z.string({ error: CONTENT_HASH }).check(z.regex(/^[0-9a-f]{64}$/, CONTENT_HASH)),
});
type Properties = z.infer<typeof Properties>;

export async function publishDeployedSkills(
  deps: PublisherDeps,
  event: CustomResourceEvent,
): Promise<CustomResourceResult> {
  if (event.RequestType === 'Delete') {
    deps.log.info('the skills registry is left as it is: published versions are immutable records');
    return {};
  }
  const parsed = Properties.safeParse(event.ResourceProperties);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`ResourceProperties.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  if (deployedSkillsHash(await readOrgSkills(deps.orgDir)) !== parsed.data.ContentHash)
    return confirmPublished(deps, parsed.data);
  const { policy, problems } = await loadSkillsPolicy(deps.orgDir);
  if (problems.length > 0) throw new Error(problems.map(formatProblem).join('\n'));
  const results = await publishOrgSkills({ ...deps, policy });
  const failures = results.flatMap((result) =>
    result.outcome === 'published' || result.outcome === 'unchanged' ? [] : [`${result.folder}: ${result.message}`],
  );
  const published = results.flatMap((result) => (result.outcome === 'published' ? [resultRef(result)!] : []));
  const unchanged = results.flatMap((result) => (result.outcome === 'unchanged' ? [resultRef(result)!] : []));
  deps.log.info('skills registry', { published, unchanged, failures: failures.length, principal: deps.principal });
  if (failures.length > 0) throw new Error(`skills were not published: ${failures.join('; ')}`);
  return { data: { Published: published.join(','), Unchanged: unchanged.join(',') } };
}

/**
 * A request for other content than this asset carries: CloudFormation rolling an update
 * back to the previous deployment (whose publish succeeded, so its versions are there) runs
 * the new code with the old properties. Succeeds when the registry has every version named,
 * so a rollback never sticks on this resource; otherwise nothing here can publish them.
 */
async function confirmPublished(deps: PublisherDeps, properties: Properties): Promise<CustomResourceResult> {
  const missing: string[] = [];
  for (const ref of properties.Skills) {
    const at = ref.indexOf('@');
    if (!(await deps.store.getVersion(ref.slice(0, at), ref.slice(at + 1)))) missing.push(ref);
  }
  if (missing.length > 0)
    throw new Error(
      `this function's asset does not hold the skills the request names (ContentHash ${properties.ContentHash}), ` +
        `and the registry does not have ${missing.join(', ')}: synthesize and deploy again`,
    );
  deps.log.info('the request names skills this asset does not hold (a rollback): all are already published', {
    skills: properties.Skills,
  });
  return { data: { Published: '', Unchanged: properties.Skills.join(',') } };
}
