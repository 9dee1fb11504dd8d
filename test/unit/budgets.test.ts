import { describe, expect, it } from 'vitest';
import { periodKey } from '../../core/budgets/periods.ts';
import { applicableBudgets, budgetLines, neverFits, worstCase } from '../../core/budgets/reservation.ts';
import { BudgetDeclaration } from '../../core/definitions/org.ts';

describe('budget periods', () => {
  it('are computed in UTC from one clock, exact at the boundary', () => {
    expect(periodKey('month', new Date('2026-11-30T23:59:59.999Z'))).toBe('2026-11');
    expect(periodKey('month', new Date('2026-12-01T00:00:00.000Z'))).toBe('2026-12');
    expect(periodKey('day', new Date('2026-11-24T23:59:59.999Z'))).toBe('2026-11-24');
    // ISO weeks: 2026-01-01 is a Thursday, so it is in week 1; 2027-01-01 (a Friday) is in 2026's week 53.
    expect(periodKey('week', new Date('2026-01-01T12:00:00Z'))).toBe('2026-W01');
    expect(periodKey('week', new Date('2027-01-01T12:00:00Z'))).toBe('2026-W53');
    expect(periodKey('week', new Date('2026-11-23T00:00:00Z'))).toBe('2026-W48');
    expect(periodKey('week', new Date('2026-11-29T23:59:59Z'))).toBe('2026-W48');
  });
});

describe('budget reservations', () => {
  const budgets = [
    { name: 'team', team: 'platform', period: 'month', limit_usd: 50 },
    { name: 'agent', agent: 'triage', period: 'day', limit_tokens: 1_000_000 },
    { name: 'me', user: 'local:noor', period: 'week', limit_usd: 5 },
    { name: 'sonnet', model: 'claude', period: 'day', limit_usd: 100 },
    { name: 'other', team: 'data', period: 'day', limit_usd: 1 },
  ].map((budget) => BudgetDeclaration.parse(budget));

  it('apply by agent, team, principal and model, all at once', () => {
    const subject = { agent: 'triage', team: 'platform', principal: 'local:noor', model: 'claude' };
    expect(applicableBudgets(budgets, subject).map((b) => b.name)).toEqual(['team', 'agent', 'me', 'sonnet']);
    const lines = budgetLines(budgets, subject, new Date('2026-11-24T06:00:00Z'), { micros: 70_000, tokens: 5_000 });
    expect(lines.map((l) => [l.name, l.scope, l.key, l.periodKey, l.limitMicros, l.limitTokens])).toEqual([
      ['team', 'team', 'platform', '2026-11', 50_000_000, undefined],
      ['agent', 'agent', 'triage', '2026-11-24', undefined, 1_000_000],
      ['me', 'user', 'local:noor', '2026-W48', 5_000_000, undefined],
      ['sonnet', 'model', 'claude', '2026-11-24', 100_000_000, undefined],
    ]);
  });

  it('reserve a conservative worst case: the prompt uncached at 2.5 characters a token, plus every output token', () => {
    expect(worstCase({ input_per_mtok: 3, output_per_mtok: 15 }, 25_000, 1_000)).toEqual({
      tokens: 11_000,
      micros: 30_000 + 15_000,
    });
    const line = budgetLines(budgets, { agent: 'x', team: 'data', principal: 'p', model: 'm' }, new Date(), {
      micros: 2_000_000,
      tokens: 10,
    })[0]!;
    expect(neverFits(line)).toBe(true);
  });
});
