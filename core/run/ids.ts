import { createHash, randomBytes } from 'node:crypto';
import type { IdGenerator } from '../ports/clock.ts';

/**
 * Run ids double as Step Functions execution names (at most 80 characters of
 * [A-Za-z0-9-_]). A run started with a dedupe key gets an id derived from it, so a
 * repeated trigger maps to the same run and never starts a second one.
 */
export const randomIds: IdGenerator = {
  newId(prefix: string): string {
    return `${prefix}-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  },
};

export function runIdFor(agent: string, dedupeKey: string): string {
  return `r-${createHash('sha256').update(`${agent}\u0000${dedupeKey}`).digest('hex').slice(0, 32)}`;
}

export function checkerRunId(parentRunId: string, attempt: number): string {
  return `${parentRunId}-check${attempt}`;
}

export function approvalIdFor(runId: string, seq: number): string {
  return `${runId}-a${seq}`;
}
