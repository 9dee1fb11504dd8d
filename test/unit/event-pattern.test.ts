import { describe, expect, it } from 'vitest';
import { matchesEventPattern } from '../support/event-pattern.ts';

/** The test matcher for EventBridge patterns follows EventBridge's rules on the filters the stack uses. */

const event = { source: 'aws.states', detail: { status: 'FAILED', error: null, tags: ['a', 'b'], size: 12 } };

describe('matchesEventPattern', () => {
  it('needs every key to match, any listed value, and an element of an array field', () => {
    expect(matchesEventPattern({ source: ['aws.states'], detail: { status: ['FAILED', 'ABORTED'] } }, event)).toBe(
      true,
    );
    expect(matchesEventPattern({ source: ['aws.states'], detail: { status: ['ABORTED'] } }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { tags: ['b'] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { size: [{ numeric: ['>', 10, '<=', 12] }] } }, event)).toBe(true);
  });

  it('matches a missing field only with exists: false, and null only by naming it', () => {
    expect(matchesEventPattern({ detail: { cause: [{ exists: false }] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { error: [{ exists: false }] } }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { error: [null] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { error: [{ 'anything-but': ['x'] }] } }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { cause: [{ 'anything-but': ['x'] }] } }, event)).toBe(false);
  });

  it('takes any branch of $or, and refuses a filter it does not know rather than passing it', () => {
    const pattern = { detail: { $or: [{ status: ['ABORTED'] }, { status: ['FAILED'], error: [null] }] } };
    expect(matchesEventPattern(pattern, event)).toBe(true);
    expect(matchesEventPattern({ detail: { $or: [{ status: ['ABORTED'] }] } }, event)).toBe(false);
    expect(() => matchesEventPattern({ detail: { status: [{ cidr: '10.0.0.0/24' }] } }, event)).toThrow(
      /\.detail\.status: this matcher does not know/,
    );
  });
});
