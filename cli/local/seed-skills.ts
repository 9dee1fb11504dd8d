import { userInfo } from 'node:os';
import type { SkillsPolicyFile } from '../../core/definitions/skills.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { publishOrgSkills as publishOrgFolders } from '../../adapters/catalog/org-skills.ts';

/** The principal of local commands and the local host: the person at this machine. */
export function localPrincipal(): string {
  return `local:${userInfo().username}`;
}

/**
 * The local host's registry starts from the org folder: each `skills/<name>/` whose
 * version is not published yet is published, by the local principal and under the same
 * owners policy as `looprail skills publish`, so a fresh clone runs its own skills. A
 * published version is never replaced: a folder that differs from it is reported, as is
 * one that could not be published. A bad SKILL.md is validate's to report.
 */
export async function publishOrgSkills(options: {
  store: SkillStore;
  orgDir: string;
  policy: SkillsPolicyFile | undefined;
  principal: string;
  log: Logger;
}): Promise<string[]> {
  const published: string[] = [];
  for (const result of await publishOrgFolders(options)) {
    if (result.outcome === 'published') published.push(`${result.record.name}@${result.record.version}`);
    else if (result.outcome === 'differs')
      options.log.warn(
        `${result.folder} differs from the published ${result.name}@${result.version}: raise its version to publish the change`,
      );
    else if (result.outcome === 'failed')
      options.log.warn(`${result.folder} was not published to the local registry: ${result.message}`);
  }
  return published;
}
