import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SkillsPolicyFile } from '../../core/definitions/skills.ts';
import { errorMessage } from '../../core/errors.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import { parseSkillFolder, type ParsedSkill } from '../../core/skills/folder.ts';
import { publishUnlessPresent, type PublishOutcome } from '../../core/skills/publish.ts';
import { readSkillFolder } from './skill-folder.ts';

/**
 * An org folder's `skills/<name>/` folders into a registry, each version published once by
 * `principal` under the owners policy (core/skills/registry.ts): what the local host does
 * with the org it serves, and what a deployed stack does at deploy with the pinned skills
 * its asset carries (functions/deploy/publish-skills.ts). A version already published is
 * never replaced; the caller decides what a folder that differs from it means.
 */

export type OrgSkillResult =
  | ({ folder: string } & PublishOutcome)
  /** A folder with no valid SKILL.md (validate reports it); a publish refused (the owners policy) or that failed. */
  | { folder: string; outcome: 'invalid' | 'failed'; message: string };

/** The org folder's skill folders that parse, in name order (a bad one is publishOrgSkills's to report). */
export async function readOrgSkills(orgDir: string): Promise<Array<{ skill: ParsedSkill }>> {
  const skills: Array<{ skill: ParsedSkill }> = [];
  for (const name of await skillFolders(orgDir)) {
    const dir = join(orgDir, 'skills', name);
    const { skill } = parseSkillFolder(dir, await readSkillFolder(dir).catch(() => []));
    if (skill) skills.push({ skill });
  }
  return skills;
}

async function skillFolders(orgDir: string): Promise<string[]> {
  const entries = await readdir(join(orgDir, 'skills'), { withFileTypes: true }).catch(() => []);
  return entries
    .filter((each) => each.isDirectory() && !each.name.startsWith('.'))
    .map((each) => each.name)
    .sort((a, b) => a.localeCompare(b));
}

export async function publishOrgSkills(options: {
  store: SkillStore;
  orgDir: string;
  policy: SkillsPolicyFile | undefined;
  principal: string;
  now?: () => Date;
}): Promise<OrgSkillResult[]> {
  const results: OrgSkillResult[] = [];
  for (const name of await skillFolders(options.orgDir)) {
    const folder = `skills/${name}`;
    const dir = join(options.orgDir, 'skills', name);
    try {
      const files = await readSkillFolder(dir);
      const { skill, problems } = parseSkillFolder(dir, files);
      if (!skill) {
        results.push({ folder, outcome: 'invalid', message: problems.map((p) => p.message).join('; ') });
        continue;
      }
      const now = options.now?.() ?? new Date();
      const request = { display: dir, files, principal: options.principal, policy: options.policy, now };
      results.push({ folder, ...(await publishUnlessPresent(options.store, request)) });
    } catch (error) {
      results.push({ folder, outcome: 'failed', message: errorMessage(error) });
    }
  }
  return results;
}

/** `name@version` of a result that names one. */
export function resultRef(result: OrgSkillResult): string | undefined {
  if (result.outcome === 'published') return `${result.record.name}@${result.record.version}`;
  if (result.outcome === 'unchanged' || result.outcome === 'differs') return `${result.name}@${result.version}`;
  return undefined;
}

/**
 * The skills publisher's asset (functions/deploy/publish-skills.ts): beside its bundle, an
 * org folder of its own with the org's `skills.yaml` and only the pinned `skills/<name>/`.
 */
export const SKILLS_ASSET_FOLDER = 'org';
