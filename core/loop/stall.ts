import { createHash } from 'node:crypto';
import { canonicalJson as canonical } from '../definitions/hash.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import type { StallState } from '../definitions/run.ts';

/**
 * Stall detection: a loop that makes the same tool calls with the same arguments turn
 * after turn is not making progress, however busy it looks (the weekend incident).
 */

export function turnSignature(calls: ToolCallBlock[]): string {
  const parts = calls.map((call) => `${call.name}:${canonical(call.arguments)}`).sort();
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

/** The stall state after a turn; turns without tool calls reset it. */
export function nextStallState(previous: StallState | undefined, calls: ToolCallBlock[]): StallState | undefined {
  if (calls.length === 0) return undefined;
  const signature = turnSignature(calls);
  return { signature, repeats: previous?.signature === signature ? previous.repeats + 1 : 1 };
}

export function isStalled(state: StallState | undefined, maxRepeats: number): boolean {
  return state !== undefined && state.repeats >= maxRepeats;
}
