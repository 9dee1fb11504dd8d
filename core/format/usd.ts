/**
 * Money as people read it, from millionths of a USD (the unit every cost is kept in).
 *
 * - `spent` (the default), for what was measured: four decimals, and six below a cent so a
 *   small non-zero cost never reads as $0.0000.
 * - `cents`, for what is set or asked for in whole cents (a ceiling, a budget's limit, an
 *   increase to approve): two decimals.
 */
export type UsdPrecision = 'spent' | 'cents';

export function formatUsd(micros: number, precision: UsdPrecision = 'spent'): string {
  const usd = micros / 1_000_000;
  if (precision === 'cents') return `$${usd.toFixed(2)}`;
  return usd >= 0.01 || usd === 0 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(6)}`;
}
