/**
 * Budget periods, computed from one clock in UTC: a call at 23:59:59.999 on the last day
 * of a month and one a millisecond later count against different months, whatever the
 * host's time zone.
 */
export type Period = 'day' | 'week' | 'month';

export function periodKey(period: Period, at: Date): string {
  const iso = at.toISOString();
  if (period === 'day') return iso.slice(0, 10);
  if (period === 'month') return iso.slice(0, 7);
  // ISO 8601 week: the week with the year's first Thursday is week 1.
  const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
