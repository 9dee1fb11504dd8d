import { globMatches } from '../policy/glob.ts';
import type { SkillsPolicyFile } from '../definitions/skills.ts';
import { SKILLS_POLICY_FILE } from '../definitions/validate.ts';

/** Why `principal` may not publish `skill` under the org's policy, or undefined when it may. */
export function publishRefusal(
  policy: SkillsPolicyFile | undefined,
  skill: string,
  principal: string,
): string | undefined {
  const entry = policy?.skills[skill];
  if (!entry) return `no one may publish skill "${skill}": ${SKILLS_POLICY_FILE} declares no owners for it`;
  if (entry.owners.some((pattern) => globMatches(pattern, principal))) return undefined;
  return `${principal} may not publish skill "${skill}": its owners in ${SKILLS_POLICY_FILE} are ${entry.owners.join(', ')}`;
}
