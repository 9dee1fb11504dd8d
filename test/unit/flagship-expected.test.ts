import { describe, expect, it } from 'vitest';
import { type MorningFacts, morningProblems } from '../../examples/ci-fixer/flagship/expected.ts';
import { ITEMS } from '../../examples/ci-fixer/flagship/mornings.ts';

/** When `npm run flagship` exits 1: each way a morning can end other than as the story says, in one sentence. */

const firstMorning = (): MorningFacts => ({
  meta: { status: 'finished', stopReason: 'verified', stopDetail: 'the checker passed attempt 1' },
  branches: [`fix/${ITEMS.sum}`, 'main'],
  ledger: [
    { id: ITEMS.sum, state: 'done', attempts: 1 },
    { id: ITEMS.day, state: 'failed', attempts: 1 },
  ],
  approvals: 1,
});

describe('how a flagship morning must end', () => {
  it('finds nothing amiss in mornings that end as the story says', () => {
    expect(morningProblems(1, firstMorning())).toEqual([]);
    expect(
      morningProblems(2, {
        ...firstMorning(),
        branches: [`fix/${ITEMS.day}`, `fix/${ITEMS.sum}`, 'main'],
        ledger: [
          { id: ITEMS.sum, state: 'done', attempts: 1 },
          { id: ITEMS.day, state: 'done', attempts: 2 },
        ],
      }),
    ).toEqual([]);
  });

  it('says how the run ended when it did not verify', () => {
    expect(
      morningProblems(1, {
        ...firstMorning(),
        meta: { status: 'failed', stopReason: 'max_steps', stopDetail: '20 steps' },
      }),
    ).toEqual(['the run ended failed (max_steps: 20 steps), not finished and verified']);
  });

  it('notices a run that never paused for its push, and a branch missing from the remote', () => {
    expect(morningProblems(1, { ...firstMorning(), approvals: 0, branches: ['main'] })).toEqual([
      'the run never paused for the approval of its push',
      `the remote has no branch fix/${ITEMS.sum} (it has main)`,
    ]);
  });

  it('names the ledger item that is not as expected, or missing', () => {
    expect(
      morningProblems(2, {
        ...firstMorning(),
        branches: [`fix/${ITEMS.day}`, `fix/${ITEMS.sum}`, 'main'],
        ledger: [{ id: ITEMS.day, state: 'failed', attempts: 2 }],
      }),
    ).toEqual([
      `the ledger has no item ${ITEMS.sum} (expected done, attempt 1)`,
      `ledger item ${ITEMS.day} is failed after attempt 2, expected done after attempt 2`,
    ]);
  });
});
