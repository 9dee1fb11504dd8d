import type { AgentView } from '../definitions/context.ts';
import { textOf, type Message } from '../definitions/messages.ts';
import type { RunMeta } from '../definitions/run.ts';
import { latestNote, writeNote } from '../memory/operations.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
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

/** The final answer kept as a note is cut to the note limit, marked, rather than lost. */
const CUT_MARK = '\n[cut to memory.note_max_chars]';

/**
 * `memory.note_from_final_answer`: a maker run that ends with an answer and wrote no note
 * itself leaves its final answer as the note. Called by FinishRun before it commits, so a
 * retried FinishRun finds the note it wrote (same run, same source) and adds none.
 */
export async function keepFinalAnswerNote(
  deps: Pick<RunDeps, 'memory' | 'clock'> & { store: Pick<RunRecordStore, 'loadState'> },
  meta: RunMeta,
): Promise<void> {
  if (!deps.memory || meta.role !== 'maker' || meta.parentRunId) return;
  if (meta.pendingStop?.reason !== 'completed' && meta.pendingStop?.reason !== 'verified') return;
  const state = await deps.store.loadState(meta.runId, { lastMessages: 1 });
  const policy = state?.context?.view.memory;
  if (!state || !policy?.noteFromFinalAnswer) return;
  const latest = await latestNote(deps.memory, meta.agent);
  if (latest?.runId === meta.runId) return;
  const answer = [...state.messages].reverse().find((message) => message.role === 'assistant');
  const text = answer ? textOf(answer).trim() : '';
  if (text === '') return;
  const kept =
    text.length > policy.noteMaxChars ? text.slice(0, policy.noteMaxChars - CUT_MARK.length) + CUT_MARK : text;
  const fields = { agent: meta.agent, runId: meta.runId, source: 'final_answer' as const, text: kept };
  await writeNote(deps.memory, fields, policy, deps.clock.now());
}
