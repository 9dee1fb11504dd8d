import { describe, expect, it } from 'vitest';
import { approvalRisk } from '../../core/approvals/risk.ts';
import { clockTime, durationInWords, expiryInWords, relativeTime } from '../../core/format/relative-time.ts';

/** What the approval page says of time and risk, in the words an approver on a phone reads. */

const now = new Date('2026-12-06T08:00:00Z'); // a Sunday
const later = (ms: number) => new Date(now.getTime() + ms);
const MIN = 60_000;
const H = 60 * MIN;

describe('times in words', () => {
  it('says a duration coarser as it grows, rounding time left down', () => {
    expect(durationInWords(30_000)).toBe('less than a minute');
    expect(durationInWords(45 * MIN + 59_000)).toBe('45 min');
    expect(durationInWords(90 * MIN)).toBe('1 h 30 min');
    expect(durationInWords(2 * H)).toBe('2 h');
    expect(durationInWords(23 * H + 59 * MIN)).toBe('23 h');
    expect(durationInWords(50 * H)).toBe('2 days 2 h');
    expect(durationInWords(10 * 24 * H + 3 * H)).toBe('10 days');
    expect(durationInWords(-5)).toBe('less than a minute');
  });

  it('says which way from now, and the clock time with its weekday, the date too when a week or more off', () => {
    expect(relativeTime(later(3 * H), now)).toBe('in 3 h');
    expect(relativeTime(later(-5 * MIN), now)).toBe('5 min ago');
    expect(clockTime(later(23 * H), now)).toBe('Mon 07:00 UTC');
    expect(clockTime(later(8 * 24 * H), now)).toBe('Mon 14 Dec 08:00 UTC');
  });

  it('says when an approval expires, or that it has', () => {
    expect(expiryInWords(later(23 * H).toISOString(), now)).toBe('expires in 23 h, Mon 07:00 UTC');
    expect(expiryInWords(later(-5 * MIN).toISOString(), now)).toBe('expired 5 min ago, Sun 07:55 UTC');
    expect(expiryInWords('tomorrow-ish', now)).toBe('expires tomorrow-ish');
  });
});

describe("an approval's risk", () => {
  it('puts a destructive call, untrusted input and a mostly spent budget first, as high', () => {
    expect(
      approvalRisk({
        destructiveTools: ['notes.delete_entities'],
        untrusted: true,
        costMicros: 850_000,
        maxCostMicros: 1_000_000,
      }),
    ).toEqual([
      {
        kind: 'destructive',
        level: 'high',
        text: 'Destructive: notes.delete_entities can delete or overwrite data; approving cannot be undone.',
      },
      { kind: 'untrusted', level: 'high', text: expect.stringMatching(/^Untrusted input: the run has read content/) },
      { kind: 'cost', level: 'high', text: 'Cost so far: $0.85 of its $1.00 budget (85%).' },
    ]);
  });

  it('says plainly when there is no untrusted input, and a cost with no ceiling', () => {
    expect(approvalRisk({ destructiveTools: [], untrusted: false, costMicros: 12_345 })).toEqual([
      { kind: 'untrusted', level: 'low', text: 'No untrusted input read so far: only the run input and instructions.' },
      { kind: 'cost', level: 'low', text: 'Cost so far: $0.01235 (no cost ceiling).' },
    ]);
    expect(
      approvalRisk({ destructiveTools: [], untrusted: false, costMicros: 10_000, maxCostMicros: 500_000 })[1],
    ).toEqual({ kind: 'cost', level: 'low', text: 'Cost so far: $0.01 of its $0.50 budget (2%).' });
  });
});
