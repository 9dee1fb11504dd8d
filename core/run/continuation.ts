import type { Control } from '../definitions/run.ts';
import { ValidationError } from '../errors.ts';
import { MAX_EXECUTION_NAME, MAX_RUN_ID } from './ids.ts';

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
/** What Step Functions allows in an execution name (of what run ids use). */
const EXECUTION_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * The name of a run's execution for an epoch: the one place names are made (the state
 * machine starts continuations by the name the step hands it). Run ids are at most
 * MAX_RUN_ID characters (core/run/ids.ts), so every name fits Step Functions' 80; one that
 * would not is refused here rather than shortened, since the run id must stay recoverable.
 */
export function executionNameFor(runId: string, epoch: number): string {
  const name = epoch === 0 ? runId : `${runId}--c${epoch}`;
  if (
    runId.length > MAX_RUN_ID ||
    name.length > MAX_EXECUTION_NAME ||
    !EXECUTION_NAME.test(runId) ||
    runId.includes('--')
  )
    throw new ValidationError(
      `run id ${JSON.stringify(runId)} cannot name an execution (epoch ${epoch}): expected at most ${MAX_RUN_ID} characters of A-Z, a-z, 0-9, - and _ without "--"`,
    );
  return name;
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
  return { ...control, next: 'continue', epoch, executionName: executionNameFor(control.runId, epoch) };
}
