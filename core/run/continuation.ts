import type { Control } from '../definitions/run.ts';

/**
 * Continue-as-new. A Standard execution's history is capped at 25,000 events; a long loop
 * would hit it. Every SEQS_PER_EXECUTION committed steps the run moves to a fresh execution
 * of the same state machine, which carries only the run id and the seq to resume at: the
 * conversation is in DynamoDB, so nothing else needs to travel.
 *
 * About 6 history events per committed step on AWS (a model and a tool step make ~12),
 * so 1,000 steps is ~6,000 events: room for four times that in retries and approvals.
 */
export const SEQS_PER_EXECUTION = 1000;

/** `<runId>--c<epoch>`: "--" never occurs in a run id, so the run id is always recoverable. */
const CONTINUED = /--c(\d+)$/;

export function executionNameFor(runId: string, epoch: number): string {
  return epoch === 0 ? runId : `${runId}--c${epoch}`;
}

export function runIdOfExecution(executionName: string): string {
  return executionName.replace(CONTINUED, '');
}

export function epochOfExecution(executionName: string): number {
  const match = CONTINUED.exec(executionName);
  return match ? Number(match[1]) : 0;
}

/** The epoch a run at this seq belongs in. */
export function epochForSeq(seq: number, every = SEQS_PER_EXECUTION): number {
  return Math.floor(seq / every);
}

/**
 * The control a step hands the state machine: unchanged, or `continue` when the run has
 * outgrown this execution's epoch. The stored control (what a resume returns) is never
 * `continue`: the new execution picks up exactly where this one would have gone.
 */
export function continuing(control: Control, executionName: string | undefined, every = SEQS_PER_EXECUTION): Control {
  if (executionName === undefined || control.next === 'finish') return control;
  const epoch = epochForSeq(control.seq, every);
  if (epoch <= epochOfExecution(executionName)) return control;
  return { ...control, next: 'continue', epoch };
}
