import type { AgentView, MountedSkill } from '../definitions/context.ts';
import { errorMessage } from '../errors.ts';
import { pinnedSkill } from '../skills/registry.ts';
import { SkillNotFoundError, SkillTamperedError } from '../skills/errors.ts';
import type { RunDeps } from './deps.ts';

/**
 * Skills at run time. StartRun resolves the agent's locked pins in the registry and keeps
 * only names and descriptions; the model loads a skill's body with a built-in tool (tools/load-skill.ts), and
 * every load is a trace event and a line on the run record. A version that is missing or
 * whose content no longer matches its hashes is never mounted.
 */

/** The view with its skills mounted, or why the run cannot start. */
export async function mountSkills(
  deps: Pick<RunDeps, 'skills'>,
  view: AgentView,
): Promise<{ view: AgentView; refusal?: string }> {
  const pins = view.skillPins ?? [];
  if (pins.length === 0) return { view };
  if (!deps.skills)
    return {
      view,
      refusal: `this agent pins skills (${pins.map((pin) => `${pin.name}@${pin.range}`).join(', ')}) but the runtime has no skills registry`,
    };
  const skills: MountedSkill[] = [];
  for (const pin of pins) {
    try {
      const record = await pinnedSkill(deps.skills, pin);
      skills.push({
        name: record.name,
        version: record.version,
        description: record.description,
        sha256: record.sha256,
      });
    } catch (error) {
      // A missing or tampered version can never be mounted; anything else (a throttled read) is retried by the state machine.
      if (error instanceof SkillNotFoundError || error instanceof SkillTamperedError)
        return { view, refusal: errorMessage(error) };
      throw error;
    }
  }
  return { view: { ...view, skills } };
}
