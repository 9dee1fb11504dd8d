import type { AgentView } from '../definitions/context.ts';
import type { Message } from '../definitions/messages.ts';
import { latestNote } from '../memory/operations.ts';
import { noteForPrompt } from '../memory/notes.ts';
import type { RunDeps } from './deps.ts';

/**
 * The first message of a run of an agent with `memory:`: the newest handoff note, then the
 * task. It is screened with the task (initializeRun), so a note carries no secret or
 * injection past the guardrails, and stored with the run: a retried StartRun reads it again
 * only if it never committed.
 */
export async function withHandoffNote(deps: Pick<RunDeps, 'memory'>, view: AgentView, task: Message): Promise<Message> {
  if (!view.memory || view.role !== 'maker' || !deps.memory) return task;
  const note = await latestNote(deps.memory, view.agent);
  if (!note) return task;
  const [first, ...rest] = task.content;
  const text = first?.type === 'text' ? first.text : '';
  return { ...task, content: [{ type: 'text', text: `${noteForPrompt(note)}${text}` }, ...rest] };
}
