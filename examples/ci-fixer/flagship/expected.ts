import type { RunMeta } from '../../../core/definitions/run.ts';
import type { LedgerItem } from '../../../core/memory/ledger.ts';
import { branchOf, ITEMS } from './mornings.ts';

/**
 * How each morning of the flagship loop must end, for `npm run flagship` to exit 0: the run
 * verified, the branch on the remote, the ledger as the story tells it. Each miss is one
 * sentence naming what was expected and what is there.
 */

export interface MorningFacts {
  meta: Pick<RunMeta, 'status' | 'stopReason' | 'stopDetail'>;
  /** The remote's branches once the run ended. */
  branches: string[];
  ledger: Pick<LedgerItem, 'id' | 'state' | 'attempts'>[];
  /** Approvals the run paused for and got. */
  approvals: number;
}

interface Expectation {
  branch: string;
  ledger: Record<string, { state: LedgerItem['state']; attempts: number }>;
}

/** Morning 1 fixes `sum` and cannot reproduce `day`; morning 2 leaves `sum` alone and fixes `day` at its second attempt. */
export const EXPECTED: Record<1 | 2, Expectation> = {
  1: {
    branch: branchOf(ITEMS.sum),
    ledger: { [ITEMS.sum]: { state: 'done', attempts: 1 }, [ITEMS.day]: { state: 'failed', attempts: 1 } },
  },
  2: {
    branch: branchOf(ITEMS.day),
    ledger: { [ITEMS.sum]: { state: 'done', attempts: 1 }, [ITEMS.day]: { state: 'done', attempts: 2 } },
  },
};

/** What is not as expected after morning `day`; empty when all is. */
export function morningProblems(day: 1 | 2, facts: MorningFacts): string[] {
  const expected = EXPECTED[day];
  const problems: string[] = [];
  const { status, stopReason, stopDetail } = facts.meta;
  if (status !== 'finished' || stopReason !== 'verified')
    problems.push(
      `the run ended ${status}${stopReason ? ` (${stopReason}${stopDetail ? `: ${stopDetail}` : ''})` : ''}, not finished and verified`,
    );
  if (facts.approvals === 0) problems.push('the run never paused for the approval of its push');
  if (!facts.branches.includes(expected.branch))
    problems.push(`the remote has no branch ${expected.branch} (it has ${facts.branches.join(', ') || 'none'})`);
  for (const [id, want] of Object.entries(expected.ledger)) {
    const item = facts.ledger.find((each) => each.id === id);
    if (!item) problems.push(`the ledger has no item ${id} (expected ${want.state}, attempt ${want.attempts})`);
    else if (item.state !== want.state || item.attempts !== want.attempts)
      problems.push(
        `ledger item ${id} is ${item.state} after attempt ${item.attempts}, expected ${want.state} after attempt ${want.attempts}`,
      );
  }
  return problems;
}
