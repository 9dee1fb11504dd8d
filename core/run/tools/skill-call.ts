import type { ToolCallBlock } from '../../definitions/messages.ts';
import type { SkillRecord } from '../../definitions/skills.ts';
import { errorMessage } from '../../errors.ts';
import { verifiedSkill } from '../../skills/registry.ts';
import { SkillNotFoundError, SkillTamperedError } from '../../skills/errors.ts';
import type { RunDeps } from '../deps.ts';
import type { StartedRunState } from '../load.ts';
import { blockedReason, recorded, screenText } from '../screening.ts';
import { builtinTrace } from './builtin.ts';
import { builtinOutcome, type CallOutcome } from './outcome.ts';

/**
 * What load_skill and read_skill_file share: the named skill must be one the run mounted,
 * its version is read and checked again at load time, and what the model gets is screened
 * like any tool result. Every load is a `skill_loaded` trace event.
 */

/** The text a skill tool gives from a verified record, or why it has none (a failed call). */
export type SkillText = (record: SkillRecord, ref: string) => SkillGiven;
type SkillGiven = { text: string; detail: string } | { error: string; detail: string };

type Status = 'ok' | 'error' | 'denied';
type Verdicts = ReturnType<typeof recorded>;

export async function skillCall(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  tool: 'load_skill' | 'read_skill_file',
  textOf: SkillText,
): Promise<CallOutcome> {
  const started = deps.clock.now();
  const view = state.context.view;
  const name = typeof call.arguments.name === 'string' ? call.arguments.name : '';
  const mounted = view.skills.find((skill) => skill.name === name);
  const outcome = (content: string, status: Status, loaded?: string, detail?: string, guardrails?: Verdicts) => {
    const named = loaded ?? (name || '(no skill named)');
    const fields = { kind: 'skill_loaded', name: named, tool, status, detail, guardrails } as const;
    const trace = builtinTrace(deps, state, call, started, fields);
    // A skill it does not have is refused like an ungranted tool; a load that failed is a failed call;
    // withheld content is a guardrail block.
    const withheld = guardrails?.some((verdict) => verdict.action === 'block');
    const kind = status === 'ok' ? 'builtin' : status === 'error' ? 'invalid' : withheld ? 'blocked' : 'denied';
    const patch = status === 'ok' && tool === 'load_skill' && loaded ? { skillsLoaded: [loaded] } : undefined;
    return builtinOutcome(kind, call, content, trace, patch);
  };
  if (!mounted) {
    const known = view.skills.map((skill) => skill.name).join(', ') || 'none';
    const refused = `refused: "${name}" is not one of this run's skills (it has: ${known})`;
    return outcome(refused, 'denied', undefined, `unknown skill "${name}"`);
  }
  const ref = `${mounted.name}@${mounted.version}`;
  if (!deps.skills) {
    const missing = `skill ${ref} could not be loaded: the runtime has no skills registry`;
    return outcome(missing, 'error', ref, 'no skills registry');
  }
  let record;
  try {
    // Read and checked again at load time: a version changed in the table after the run started is refused too.
    record = await verifiedSkill(deps.skills, mounted);
  } catch (error) {
    if (!(error instanceof SkillNotFoundError || error instanceof SkillTamperedError)) throw error;
    return outcome(`skill ${ref} could not be loaded: ${errorMessage(error)}`, 'error', ref, errorMessage(error));
  }
  const given = textOf(record, ref);
  if ('error' in given) return outcome(given.error, 'error', ref, given.detail);
  // Published content is reviewed, but it still reaches the model: the same screening as any tool result.
  const screened = screenText(deps, view, given.text, 'tool_output');
  if (screened.blocked) {
    const withheld = `skill ${ref} was withheld: it was ${blockedReason(screened.blocked)}`;
    return outcome(withheld, 'denied', ref, 'withheld by a guardrail', recorded(screened.verdicts));
  }
  return outcome(screened.text, 'ok', ref, given.detail, recorded(screened.verdicts));
}
