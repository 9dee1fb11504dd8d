import { describe, expect, it } from 'vitest';
import { formatUsd, formatUsdAmount } from '../../core/format/usd.ts';

describe('the money format (one rule for the CLI, the console and the mails)', () => {
  it('under $1: four significant digits, trailing zeros dropped down to cents', () => {
    expect(formatUsd(39_500)).toBe('$0.0395');
    expect(formatUsd(9_564)).toBe('$0.009564');
    expect(formatUsd(61_500)).toBe('$0.0615');
    expect(formatUsd(123_456)).toBe('$0.1235');
    expect(formatUsd(500_000)).toBe('$0.50');
    expect(formatUsd(75_000)).toBe('$0.075');
  });

  it('never rounds a non-zero amount to $0.00, nor $0.045 to $0.04', () => {
    expect(formatUsd(1)).toBe('$0.000001');
    expect(formatUsd(150)).toBe('$0.00015');
    expect(formatUsd(45_000)).toBe('$0.045');
    expect(formatUsdAmount(0.045)).toBe('$0.045');
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(0.4)).toBe('$0.00');
  });

  it('from $1: cents, rounded half up on whole micro-dollars, with thousands separators', () => {
    expect(formatUsd(1_000_000)).toBe('$1.00');
    expect(formatUsd(1_045_000)).toBe('$1.05');
    expect(formatUsd(1_044_999)).toBe('$1.04');
    expect(formatUsd(999_999)).toBe('$1.00');
    expect(formatUsd(1_234_500_000)).toBe('$1,234.50');
    expect(formatUsdAmount(5)).toBe('$5.00');
    expect(formatUsdAmount(0.05)).toBe('$0.05');
  });

  it('keeps the sign of a negative amount', () => {
    expect(formatUsd(-45_000)).toBe('-$0.045');
    expect(formatUsd(-2_500_000)).toBe('-$2.50');
  });
});
