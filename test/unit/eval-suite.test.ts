import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { Expectations, missedExpectations } from '../../core/review/eval-suite.ts';

/** What a written eval case checks at the end of its run, each miss in plain words. */

const event = (kind: TraceEvent['kind'], name: string, status: TraceEvent['status'] = 'ok') =>
  ({ kind, name, status }) as TraceEvent;

describe("an eval case's expectations", () => {
  const trace = [
    event('tool_call', 'ci.list'),
    event('tool_call', 'ci.read', 'error'),
    event('tool_denied', 'memory.delete', 'denied'),
    event('verification', 'reviewer', 'fail'),
    event('verification', 'reviewer', 'pass'),
  ];

  it('passes when every expectation holds; a denied call was not made, and the last verdict counts', () => {
    const expect_ = Expectations.parse({
      stop_reason: 'verified',
      calls: ['ci.list'],
      not_calls: ['memory.delete'],
      verdict: 'pass',
      max_cost_usd: 0.01,
    });
    expect(missedExpectations(expect_, { stopReason: 'verified', costMicros: 10_000, trace })).toEqual([]);
  });

  it('names each miss: the stop with its detail, a call that failed or was made, the cost, the verdict', () => {
    const expect_ = Expectations.parse({
      stop_reason: 'completed',
      calls: ['ci.read'],
      not_calls: ['ci.list'],
      verdict: 'fail',
      max_cost_usd: 0.001,
    });
    expect(
      missedExpectations(expect_, {
        stopReason: 'max_steps',
        stopDetail: 'harness.max_steps is 3',
        costMicros: 2_500,
        trace,
      }),
    ).toEqual([
      'stopped max_steps (harness.max_steps is 3), expected completed',
      'never called ci.read successfully',
      'called ci.list, expected not to',
      'cost $0.0025, more than $0.001',
      'the checker said pass, expected fail',
    ]);
  });
});

describe('tool names in expectations', () => {
  it('are read in either form, and misses are told the way traces name the tool', () => {
    const trace = [event('tool_call', 'team-memory.create_entities')];
    const expect_ = Expectations.parse({
      calls: ['team-memory__create_entities', 'ci__read'],
      not_calls: ['team-memory__create_entities'],
    });
    expect(missedExpectations(expect_, { stopReason: 'completed', costMicros: 0, trace })).toEqual([
      'never called ci.read successfully',
      'called team-memory.create_entities, expected not to',
    ]);
  });
});
