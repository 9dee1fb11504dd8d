import { createHash, randomBytes } from 'node:crypto';
import type { IdGenerator } from '../ports/clock.ts';

/**
 * Run ids double as Step Functions execution names (at most 80 characters of
 * [A-Za-z0-9-_]). A run started with a dedupe key gets an id derived from it, so a
 * repeated trigger maps to the same run and never starts a second one.
 */

/** Step Functions' limit on an execution name. */
export const MAX_EXECUTION_NAME = 80;
/**
 * A run id's limit: room within an execution name for a continuation's `--c<epoch>`
 * (core/run/continuation.ts) up to epoch 9,999,999.
 */
export const MAX_RUN_ID = MAX_EXECUTION_NAME - '--c9999999'.length;
export const randomIds: IdGenerator = {
  newId(prefix: string): string {
    return `${prefix}-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  },
};

export function runIdFor(agent: string, dedupeKey: string): string {
  return `r-${createHash('sha256').update(`${agent}\u0000${dedupeKey}`).digest('hex').slice(0, 32)}`;
}

/** The checker's run for a verification attempt: one per attempt, so a retried Verify finds it. */
export function checkerRunId(parentRunId: string, attempt: number): string {
  return boundedRunId(`${parentRunId}-check${attempt}`);
}

/**
 * A run id derived from another (a child's, a checker's): as it reads while it fits in
 * MAX_RUN_ID, else its readable start and a hash of the whole of it, so it stays unique and
 * the same every time. Never ends its start with `-`: `--` marks a continuation.
 */
export function boundedRunId(readable: string): string {
  if (readable.length <= MAX_RUN_ID) return readable;
  const hash = createHash('sha256').update(readable).digest('hex').slice(0, 12);
  return `${readable.slice(0, MAX_RUN_ID - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

export function approvalIdFor(runId: string, seq: number): string {
  return `${runId}-a${seq}`;
}
