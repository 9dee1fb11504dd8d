import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { parseYaml } from '../../core/definitions/yaml-source.ts';
import { formatProblem, type Problem } from '../../core/definitions/problems.ts';
import { parseSkillFolder } from '../../core/skills/folder.ts';
import { skillsToDeploy, type DeployedSkill, type PinSite, type ReadOrgSkill } from '../../core/skills/deploy-pins.ts';
import { readSkillFolderSync } from './skill-folder.ts';

/**
 * The skill versions a deployment publishes, read from the org folder at synth
 * (synchronously: constructs are). Each refusal is a problem at its pin, `file:line:col`,
 * the way `looprail validate` reports (core/skills/deploy-pins.ts has the rules).
 */
export function loadPinnedSkills(
  catalog: Catalog,
  orgDir: string,
  principal: string,
): { skills: DeployedSkill[]; problems: Problem[] } {
  const readSkill: ReadOrgSkill = (name) => {
    const folder = join(orgDir, 'skills', name);
    let files: Array<{ path: string; content: string }>;
    try {
      files = readSkillFolderSync(folder);
    } catch {
      return { problem: `the org folder has no ${folder}/ to publish it from: add the skill's folder (SKILL.md)` };
    }
    const { skill, problems } = parseSkillFolder(folder, files);
    return skill ? { skill, folder } : { problem: problems.map(formatProblem).join('; ') };
  };
  const { skills, refusals } = skillsToDeploy(catalog, readSkill, principal);
  const problems = refusals.map(
    ({ site, message }): Problem => ({
      file: site.file,
      ...pinPosition(site),
      path: `agent.skills[${site.index}]`,
      message,
      severity: 'error',
    }),
  );
  return { skills, problems };
}

/** The pin's line in its agent file (as loaded, relative to the working directory); line 1 when unreadable. */
function pinPosition(site: PinSite): { line: number; col: number } {
  try {
    const parsed = parseYaml({ file: site.file, text: readFileSync(resolve(site.file), 'utf8') }, 'an agent');
    if (parsed.ok) return parsed.parsed.locate(['agent', 'skills', site.index]);
  } catch {
    // The file moved since it was validated: the message still names it.
  }
  return { line: 1, col: 1 };
}
