import type { MemoryPolicy } from '../definitions/memory.ts';
import { expiryOf } from './ledger.ts';

/**
 * The handoff note: what a run did and what is next, for the next run's model. Every
 * write is a new version, linked to the run (and tool call) that wrote it; the newest is
 * the one put in front of the next run.
 */
export interface HandoffNote {
  agent: string;
  /** 1, 2, …: each write adds one, conditional on the number being free. */
  version: number;
  runId: string;
  /** The tool call that wrote it (absent: kept from the run's final answer, or an operator's). */
  callId?: string;
  /** Who wrote it when it was not a run's model: `final answer`, or an operator's clear. */
  source?: 'tool' | 'final_answer' | 'operator';
  text: string;
  at: string;
  /** Epoch seconds: the store forgets this version then. */
  expiresAt: number;
}

/** Why a note cannot be kept, or undefined. */
export function noteProblem(text: unknown, policy: MemoryPolicy): string | undefined {
  if (typeof text !== 'string' || text.trim() === '') return 'expected "text": what this run did and what is next';
  if (text.length > policy.noteMaxChars) {
    return `the note is ${text.length} characters; this agent's memory.note_max_chars is ${policy.noteMaxChars}: keep what the next run needs`;
  }
  return undefined;
}

/** The next version after `latest`, or `latest` itself when the same call wrote it (a retried step). */
export function nextNote(
  latest: HandoffNote | undefined,
  fields: Pick<HandoffNote, 'agent' | 'runId' | 'callId' | 'source' | 'text'>,
  policy: MemoryPolicy,
  now: Date,
): { kind: 'applied' | 'write'; note: HandoffNote } {
  if (latest && latest.runId === fields.runId && latest.callId === fields.callId && latest.source === fields.source) {
    return { kind: 'applied', note: latest };
  }
  const note: HandoffNote = {
    ...fields,
    version: (latest?.version ?? 0) + 1,
    at: now.toISOString(),
    expiresAt: expiryOf(policy, now),
  };
  return { kind: 'write', note };
}

/** The note as the next run's model reads it, before its task. */
export function noteForPrompt(note: HandoffNote): string {
  return `# Handoff note from the previous run\n\nWritten by run ${note.runId} at ${note.at} (version ${note.version}). It is that run's own account: check it against your tools before you rely on it.\n\n${note.text}\n\n# This run's task\n\n`;
}
