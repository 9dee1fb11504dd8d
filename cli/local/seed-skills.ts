import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import type { SkillsPolicyFile } from '../../core/definitions/skills.ts';
import { errorMessage } from '../../core/errors.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import { parseSkillFolder } from '../../core/skills/bundle.ts';
import { publishSkill } from '../../core/skills/registry.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { readSkillFolder } from '../../adapters/catalog/skill-folder.ts';

/** The principal of local commands and the local host: the person at this machine. */
export function localPrincipal(): string {
  return `local:${userInfo().username}`;
}

/**
 * The local host's registry starts from the org folder: each `skills/<name>/` whose
 * version is not published yet is published, by the local principal and under the same
 * owners policy as `looprail skills publish`, so a fresh clone runs its own skills. A
 * published version is never replaced: a folder that differs from it is reported.
 */
export async function publishOrgSkills(options: {
  store: SkillStore;
  orgDir: string;
  policy: SkillsPolicyFile | undefined;
  principal: string;
  log: Logger;
}): Promise<string[]> {
  const root = join(options.orgDir, 'skills');
  const folders = await readdir(root, { withFileTypes: true }).catch(() => []);
  const published: string[] = [];
  for (const folder of folders.filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))) {
    const dir = join(root, folder.name);
    try {
      const files = await readSkillFolder(dir);
      const { skill } = parseSkillFolder(dir, files);
      if (!skill) continue; // validate reports a bad SKILL.md; there is nothing to publish
      const existing = await options.store.getVersion(skill.front.name, skill.front.version);
      if (existing) {
        if (existing.sha256 !== skill.sha256)
          options.log.warn(
            `skills/${folder.name} differs from the published ${skill.front.name}@${skill.front.version}: raise its version to publish the change`,
          );
        continue;
      }
      const record = await publishSkill(options.store, {
        display: dir,
        files,
        principal: options.principal,
        policy: options.policy,
        now: new Date(),
      });
      published.push(`${record.name}@${record.version}`);
    } catch (error) {
      options.log.warn(`skills/${folder.name} was not published to the local registry: ${errorMessage(error)}`);
    }
  }
  return published;
}
