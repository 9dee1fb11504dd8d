/**
 * Money as people read it, from millionths of a USD (the unit every cost is kept in), one
 * rule everywhere (CLI, console, mails, stop reasons):
 *
 * - from $1: cents, rounded half up — `$1.05`, `$1,234.50`;
 * - under $1: four significant digits, trailing zeros dropped down to cents — `$0.0395`,
 *   `$0.009564`, `$0.045`, `$0.50`, `$0.000012`: a small non-zero amount never reads as $0.00
 *   and a budget of $0.045 never reads as $0.04;
 * - nothing: `$0.00`.
 *
 * Worked on whole micro-dollars, never on floating-point dollars (0.045 is 0.04499… as a
 * float, which toFixed(2) makes $0.04).
 */
const MICROS_PER_USD = 1_000_000;
const SIGNIFICANT_DIGITS = 4;

export function formatUsd(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const amount = Math.round(Math.abs(micros));
  if (amount === 0) return '$0.00';
  if (amount < MICROS_PER_USD) {
    // Digits after the point for four significant ones, at most six (a micro-dollar).
    const decimals = Math.min(6, 6 - String(amount).length + SIGNIFICANT_DIGITS);
    const step = 10 ** (6 - decimals);
    const rounded = Math.round(amount / step) * step;
    if (rounded < MICROS_PER_USD) {
      const fraction = String(rounded).padStart(6, '0').replace(/0+$/, '').padEnd(2, '0');
      return `${sign}$0.${fraction}`;
    }
  }
  const cents = Math.round(amount / 10_000);
  const dollars = Math.floor(cents / 100).toLocaleString('en-US');
  return `${sign}$${dollars}.${String(cents % 100).padStart(2, '0')}`;
}

/** A configured amount in dollars (a ceiling, a budget's limit), shown by the same rule. */
export function formatUsdAmount(usd: number): string {
  return formatUsd(Math.round(usd * MICROS_PER_USD));
}
