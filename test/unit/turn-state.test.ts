import { describe, expect, it } from 'vitest';
import type { RunMeta } from '../../core/definitions/run.ts';
import { withTurnState } from '../../core/run/load.ts';
import { newRunMeta } from '../../core/run/request-run.ts';

/** Turn-only state lives under RunMeta.turn; a record written before that still reads the same. */

const meta = (): RunMeta =>
  newRunMeta({
    runId: 'r-1',
    agent: 'a',
    principal: 'p',
    trigger: { kind: 'cli' },
    input: {},
    createdAt: '2026-12-06T00:00:00Z',
  });

describe('turn state', () => {
  it('leaves a current record as it is', () => {
    const current = { ...meta(), turn: { approvedCallIds: ['c1'] } };
    expect(withTurnState(current)).toBe(current);
  });

  it("reads an older record's top-level approvals and hand-overs into turn, and drops them from the top", () => {
    const older = {
      ...meta(),
      approvedCallIds: ['c1'],
      approvedBindings: { c1: 'h' },
      delegatedRuns: ['r-1-check1'],
    } as RunMeta;
    const read = withTurnState(older);
    expect(read.turn).toEqual({
      approvedCallIds: ['c1'],
      approvedBindings: { c1: 'h' },
      delegatedRuns: ['r-1-check1'],
    });
    expect(Object.keys(read)).not.toContain('approvedCallIds');
    expect(Object.keys(read)).not.toContain('delegatedRuns');
  });
});
