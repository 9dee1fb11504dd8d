import type { AgentView, MountedSkill } from '../definitions/context.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import { errorMessage } from '../errors.ts';
import { LOAD_SKILL_TOOL_NAME, READ_SKILL_FILE_TOOL_NAME } from '../loop/prompt.ts';
import { SKILL_ENTRY, skillBody } from '../skills/bundle.ts';
import { pinnedSkill, verifiedSkill } from '../skills/registry.ts';
import { SkillNotFoundError, SkillTamperedError } from '../skills/errors.ts';
import type { RunDeps } from './deps.ts';
import { elapsedMs, type StartedRunState } from './load.ts';
import { blockedReason, recorded, screenText } from './screening.ts';
import type { CallOutcome } from './tool-step.ts';

/**
 * Skills at run time. StartRun resolves the agent's locked pins in the registry and keeps
 * only names and descriptions; the model loads a skill's body with a built-in tool, and
 * every load is a trace event and a line on the run record. A version that is missing or
 * whose content no longer matches its hashes is never mounted.
 */

/** The view with its skills mounted, or why the run cannot start. */
export async function mountSkills(deps: Pick<RunDeps, 'skills'>, view: AgentView): Promise<{ view: AgentView; refusal?: string }> {
  const pins = view.skillPins ?? [];
  if (pins.length === 0) return { view };
  if (!deps.skills) return { view, refusal: `this agent pins skills (${pins.map((pin) => `${pin.name}@${pin.range}`).join(', ')}) but the runtime has no skills registry` };
  const skills: MountedSkill[] = [];
  for (const pin of pins) {
    try {
      const record = await pinnedSkill(deps.skills, pin);
      skills.push({ name: record.name, version: record.version, description: record.description, sha256: record.sha256 });
    } catch (error) {
      // A missing or tampered version can never be mounted; anything else (a throttled read) is retried by the state machine.
      if (error instanceof SkillNotFoundError || error instanceof SkillTamperedError) return { view, refusal: errorMessage(error) };
      throw error;
    }
  }
  return { view: { ...view, skills } };
}

export function isSkillTool(name: string): boolean {
  return name === LOAD_SKILL_TOOL_NAME || name === READ_SKILL_FILE_TOOL_NAME;
}

/** One load_skill or read_skill_file call; failures are results the model reads. */
export async function skillCall(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): Promise<CallOutcome> {
  const started = deps.clock.now();
  const view = state.context.view;
  const name = typeof call.arguments.name === 'string' ? call.arguments.name : '';
  const mounted = view.skills.find((skill) => skill.name === name);
  const outcome = (content: string, status: 'ok' | 'error' | 'denied', loaded?: string, detail?: string, guardrails?: ReturnType<typeof recorded>): CallOutcome => {
    const ended = deps.clock.now();
    return {
      // A skill it does not have is refused like an ungranted tool; a load that failed is a failed call; withheld content is a guardrail block.
      kind: status === 'ok' ? 'builtin' : status === 'error' ? 'invalid' : guardrails?.some((verdict) => verdict.action === 'block') ? 'blocked' : 'denied',
      loadedSkill: status === 'ok' && call.name === LOAD_SKILL_TOOL_NAME ? loaded : undefined,
      result: { type: 'tool_result', callId: call.id, name: call.name, content, isError: status !== 'ok' },
      trace: {
        kind: 'skill_loaded',
        role: view.role,
        name: loaded ?? (name || '(no skill named)'),
        server: 'looprail',
        tool: call.name === LOAD_SKILL_TOOL_NAME ? 'load_skill' : 'read_skill_file',
        callId: call.id,
        status,
        startedAt: started.toISOString(),
        endedAt: ended.toISOString(),
        latencyMs: elapsedMs(started, ended),
        detail,
        guardrails,
      },
    };
  };
  if (!mounted) {
    const known = view.skills.map((skill) => skill.name).join(', ') || 'none';
    return outcome(`refused: "${name}" is not one of this run's skills (it has: ${known})`, 'denied', undefined, `unknown skill "${name}"`);
  }
  const ref = `${mounted.name}@${mounted.version}`;
  if (!deps.skills) return outcome(`skill ${ref} could not be loaded: the runtime has no skills registry`, 'error', ref, 'no skills registry');
  let record;
  try {
    // Read and checked again at load time: a version changed in the table after the run started is refused too.
    record = await verifiedSkill(deps.skills, mounted);
  } catch (error) {
    if (!(error instanceof SkillNotFoundError || error instanceof SkillTamperedError)) throw error;
    return outcome(`skill ${ref} could not be loaded: ${errorMessage(error)}`, 'error', ref, errorMessage(error));
  }
  let text: string;
  if (call.name === LOAD_SKILL_TOOL_NAME) {
    const others = record.files.filter((file) => file.path !== SKILL_ENTRY).map((file) => file.path);
    text = `# Skill ${ref}\n\n${skillBody(record)}${others.length > 0 ? `\n\n## Files in this skill (read with ${READ_SKILL_FILE_TOOL_NAME})\n${others.map((path) => `- ${path}`).join('\n')}` : ''}`;
  } else {
    const path = typeof call.arguments.path === 'string' ? call.arguments.path : '';
    const file = record.files.find((candidate) => candidate.path === path);
    if (!file) return outcome(`skill ${ref} has no file "${path}" (it has: ${record.files.map((f) => f.path).join(', ')})`, 'error', ref, `no file "${path}"`);
    text = file.content;
  }
  // Published content is reviewed, but it still reaches the model: the same screening as any tool result.
  const screened = screenText(deps, view, text, 'tool_output');
  if (screened.blocked) {
    return outcome(`skill ${ref} was withheld: it was ${blockedReason(screened.blocked)}`, 'denied', ref, 'withheld by a guardrail', recorded(screened.verdicts));
  }
  return outcome(screened.text, 'ok', ref, call.name === READ_SKILL_FILE_TOOL_NAME ? `file ${String(call.arguments.path)}` : `sha256:${record.sha256}`, recorded(screened.verdicts));
}
