import { describe, expect, it } from 'vitest';
import { diffAccess } from '../../core/review/access-diff.ts';
import type { AccessProfile, Facet } from '../../core/review/access-profile.ts';

/** Which way each kind of change moves what an agent may do, facet by facet. */

const tool = (flags: Partial<NonNullable<Facet['tool']>> = {}): Facet => {
  const value = { tool: 'files.write', readOnly: false, destructive: false, ...flags };
  return { kind: 'tool', shown: JSON.stringify(value), tool: value };
};

function direction(before: Record<string, Facet>, after: Record<string, Facet>) {
  const profile = (facets: Record<string, Facet>): Map<string, AccessProfile> =>
    new Map([['agent', new Map(Object.entries(facets))]]);
  return diffAccess(profile(before), profile(after)).changes.map((change) => [change.facet, change.direction]);
}

describe('the direction of a change', () => {
  it('widens when a tool loses its destructive flag, becomes read-only, waits for fewer reasons or is rate-limited less', () => {
    const cases: Array<[Partial<NonNullable<Facet['tool']>>, Partial<NonNullable<Facet['tool']>>]> = [
      [{ destructive: true }, { destructive: false }],
      [{ readOnly: false }, { readOnly: true }],
      [{ approval: ['destructive', 'rule'] }, { approval: ['rule'] }],
      [{ rateLimitPerMinute: 5 }, { rateLimitPerMinute: 50 }],
      [{ rateLimitPerMinute: 5 }, {}],
    ];
    for (const [before, after] of cases) {
      expect(direction({ 'tool files.write': tool(before) }, { 'tool files.write': tool(after) })).toEqual([
        ['tool files.write', 'widens'],
      ]);
      expect(direction({ 'tool files.write': tool(after) }, { 'tool files.write': tool(before) })).toEqual([
        ['tool files.write', 'narrows'],
      ]);
    }
  });

  it('calls a tool whose pin alone moved a change to review', () => {
    expect(
      direction({ 'tool files.write': tool({ pin: 'sha256:a' }) }, { 'tool files.write': tool({ pin: 'sha256:b' }) }),
    ).toEqual([['tool files.write', 'changes']]);
  });

  it('reads gates by severity, ceilings by amount, and facts with no direction', () => {
    const gate = (amount: number): Facet => ({ kind: 'gate', shown: `severity ${amount}`, amount });
    const ceiling = (amount: number): Facet => ({ kind: 'ceiling', shown: String(amount), amount });
    const fact = (shown: string): Facet => ({ kind: 'fact', shown });
    expect(direction({ 'guardrail deny x': gate(3) }, { 'guardrail deny x': gate(0) })).toEqual([
      ['guardrail deny x', 'widens'],
    ]);
    expect(direction({ 'guardrail deny x': gate(0) }, { 'guardrail deny x': gate(3) })).toEqual([
      ['guardrail deny x', 'narrows'],
    ]);
    expect(direction({}, { 'guardrail deny x': gate(3) })).toEqual([['guardrail deny x', 'narrows']]);
    expect(direction({ 'guardrail deny x': gate(3) }, {})).toEqual([['guardrail deny x', 'widens']]);
    expect(direction({ 'limit max_steps': ceiling(10) }, { 'limit max_steps': ceiling(20) })).toEqual([
      ['limit max_steps', 'widens'],
    ]);
    // A ceiling that appears caps what was unlimited; one that goes lifts the cap.
    expect(direction({}, { 'limit max_cost_usd': ceiling(1) })).toEqual([['limit max_cost_usd', 'narrows']]);
    expect(direction({ 'limit max_cost_usd': ceiling(1) }, {})).toEqual([['limit max_cost_usd', 'widens']]);
    expect(direction({ model: fact('a') }, { model: fact('b') })).toEqual([['model', 'changes']]);
    expect(
      direction(
        { enabled: { kind: 'reach', shown: 'disabled', amount: 0 } },
        { enabled: { kind: 'reach', shown: 'enabled', amount: 1 } },
      ),
    ).toEqual([['enabled', 'widens']]);
    expect(direction({}, { 'sandbox host api.github.com': { kind: 'reach', shown: 'api.github.com' } })).toEqual([
      ['sandbox host api.github.com', 'widens'],
    ]);
  });

  it('says access widened when any one change widens, and lists what can act first', () => {
    const profile = (facets: Record<string, Facet>): Map<string, AccessProfile> =>
      new Map([['agent', new Map(Object.entries(facets))]]);
    const diff = diffAccess(
      profile({ model: { kind: 'fact', shown: 'a' }, 'limit max_steps': { kind: 'ceiling', shown: '5', amount: 5 } }),
      profile({
        model: { kind: 'fact', shown: 'b' },
        'limit max_steps': { kind: 'ceiling', shown: '4', amount: 4 },
        'tool x.y': tool(),
      }),
    );
    expect(diff.widened).toBe(true);
    expect(diff.changes.map((change) => change.facet)).toEqual(['tool x.y', 'limit max_steps', 'model']);
  });
});
