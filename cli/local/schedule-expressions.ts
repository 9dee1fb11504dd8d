/**
 * When an EventBridge Scheduler expression fires next, for the in-process scheduler of
 * `looprail dev` (scheduler.ts): the same expressions Scheduler runs on AWS (`cron(...)`
 * with its 6 fields, or `rate(...)`, already translated by core/definitions/schedule.ts),
 * evaluated in each schedule's time zone.
 *
 * Written here because no cron library on npm reads Scheduler's dialect faithfully (a year
 * field, `?`, day-of-week 1-7 from SUNDAY, `L`/`W`/`#`, wrapping ranges) or keeps its DST
 * rules (below). Checked against test/unit/scheduler.test.ts:
 * - croner 11 (7-part mode, Quartz weekdays) comes closest but refuses `cron(0 9 ? * FRI-MON *)`
 *   (a wrapping range), `cron(5/30 * * * ? *)` (a step from a number) and `cron(0 0 ? * L *)`
 *   (`L` alone is Saturday); in Europe/Paris it moves `cron(30 2 * * ? *)` to 03:00 on
 *   2025-03-30 instead of skipping it, and fires `cron(0 * * * ? *)` twice at the repeated
 *   02:00 of 2025-10-26;
 * - cron-parser 5 and cron-schedule 6 have no year field, so every `cron(...)` fails; cron-schedule
 *   also has no `?`, `L` or time zones;
 * - cronosjs 1.7 counts weekdays from 0 (`cron(0 9 ? * 2-6 *)` is Tuesday to Saturday, `6L`
 *   the last Saturday, `3#2` the second Wednesday) and lets `31W` fall on June 30th;
 * - aws-cron-parser 1.1 reads the dialect but only in UTC, and gets `cron(0 0 31 * ? *)` and
 *   `cron(0 0 LW * ? *)` wrong.
 * Translating the expression and filtering croner's answers for DST would need most of this
 * file's calendar code anyway.
 *
 * Time zones and daylight saving time, as EventBridge Scheduler documents them:
 * - a wall-clock time that does not exist (spring forward: 02:30 in Europe/Paris on the
 *   last Sunday of March) is skipped, not moved;
 * - a wall-clock time that happens twice (fall back: 02:30 on the last Sunday of October)
 *   fires once, at its first occurrence (the summer-time one);
 * - `rate(...)` counts fixed durations (a day is 24 hours), so time zones do not apply.
 */

// ---------------------------------------------------------------------------------------
// Expressions

type Rate = { kind: 'rate'; everyMs: number };

interface Cron {
  kind: 'cron';
  minutes: number[];
  hours: number[];
  months: ReadonlySet<number>;
  years: ReadonlySet<number> | 'any';
  /** Does this calendar day match the day-of-month / day-of-week fields? */
  day: (year: number, month: number, day: number) => boolean;
}

type Expression = Rate | Cron;

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const RATE_UNITS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

const expressionCache = new Map<string, Expression>();

function parseExpression(text: string): Expression {
  const cached = expressionCache.get(text);
  if (cached) return cached;
  const match = /^(cron|rate)\((.*)\)$/s.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a Scheduler expression (cron(...) or rate(...))`);
  const expression = match[1] === 'rate' ? parseRate(match[2]!) : parseCron(match[2]!);
  expressionCache.set(text, expression);
  return expression;
}

function parseRate(body: string): Rate {
  const match = /^(\d+)\s+(minute|hour|day)s?$/.exec(body.trim());
  if (!match || Number(match[1]) < 1) throw new Error(`"rate(${body})" is not rate(N minutes|hours|days)`);
  return { kind: 'rate', everyMs: Number(match[1]) * RATE_UNITS[match[2]!]! };
}

interface FieldRange {
  label: string;
  min: number;
  max: number;
  names?: string[];
}

function parseNumber(token: string, range: FieldRange): number {
  if (/^\d+$/.test(token)) {
    const value = Number(token);
    if (value < range.min || value > range.max)
      throw new Error(`${range.label} value ${token} is outside ${range.min}-${range.max}`);
    return value;
  }
  const index = range.names?.indexOf(token.toUpperCase()) ?? -1;
  if (index < 0) throw new Error(`${range.label} has "${token}"`);
  return index + 1;
}

/** `*`, `5`, `1-5`, `MON-FRI`, `*\/15`, `5/15`, `10-50/20`, lists of those; ranges may wrap (`FRI-MON`). */
function parseSet(field: string, range: FieldRange): number[] {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const [span, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new Error(`${range.label} step "${stepText}" is not a positive number`);
    let from: number;
    let to: number;
    if (span === '*') [from, to] = [range.min, range.max];
    else if (span!.includes('-')) {
      const [a, b] = span!.split('-');
      [from, to] = [parseNumber(a!, range), parseNumber(b!, range)];
    } else {
      from = parseNumber(span!, range);
      // `5/15`: from 5 to the end of the field, every 15.
      to = stepText === undefined ? from : range.max;
    }
    const width = range.max - range.min + 1;
    const count = (((to - from) % width) + width) % width;
    for (let offset = 0; offset <= count; offset += step) values.add(range.min + ((from - range.min + offset) % width));
  }
  return [...values].sort((a, b) => a - b);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** 1 = Sunday … 7 = Saturday, as Scheduler counts. */
function weekday(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
}

function isWeekday(year: number, month: number, day: number): boolean {
  const dow = weekday(year, month, day);
  return dow !== 1 && dow !== 7;
}

/** `15W`: the weekday nearest the 15th, never leaving the month; none in a month without that day (31W in April). */
function nearestWeekday(year: number, month: number, target: number): number | undefined {
  const last = daysInMonth(year, month);
  if (target > last) return undefined;
  const day = target;
  const dow = weekday(year, month, day);
  if (dow === 7) return day === 1 ? 3 : day - 1; // Saturday: Friday, or Monday the 3rd when the 1st is a Saturday
  if (dow === 1) return day === last ? day - 2 : day + 1; // Sunday: Monday, or Friday when it is the month's last day
  return day;
}

function dayOfMonthMatcher(field: string): Cron['day'] {
  if (field === '*') return () => true;
  if (field === 'L') return (y, m, d) => d === daysInMonth(y, m);
  if (field === 'LW') {
    return (y, m, d) => {
      let last = daysInMonth(y, m);
      while (!isWeekday(y, m, last)) last -= 1;
      return d === last;
    };
  }
  const nearest = /^(\d{1,2})W$/.exec(field);
  if (nearest) {
    const target = parseNumber(nearest[1]!, { label: 'day-of-month', min: 1, max: 31 });
    return (y, m, d) => d === nearestWeekday(y, m, target);
  }
  const days = new Set(parseSet(field, { label: 'day-of-month', min: 1, max: 31 }));
  return (_y, _m, d) => days.has(d);
}

function dayOfWeekMatcher(field: string): Cron['day'] {
  const range = { label: 'day-of-week', min: 1, max: 7, names: DAY_NAMES };
  if (field === '*') return () => true;
  // `L` alone is the last day of the week: Saturday.
  if (field === 'L') return (y, m, d) => weekday(y, m, d) === 7;
  const last = /^(\w+)L$/.exec(field);
  if (last) {
    const dow = parseNumber(last[1]!, range);
    return (y, m, d) => weekday(y, m, d) === dow && d + 7 > daysInMonth(y, m);
  }
  const nth = /^(\w+)#([1-5])$/.exec(field);
  if (nth) {
    const dow = parseNumber(nth[1]!, range);
    const which = Number(nth[2]);
    return (y, m, d) => weekday(y, m, d) === dow && Math.ceil(d / 7) === which;
  }
  const days = new Set(parseSet(field, range));
  return (y, m, d) => days.has(weekday(y, m, d));
}

function parseCron(body: string): Cron {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) throw new Error(`cron(${body}) does not have 6 fields`);
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if ((dayOfMonth === '?') === (dayOfWeek === '?'))
    throw new Error(`cron(${body}): exactly one of day-of-month and day-of-week must be "?"`);
  return {
    kind: 'cron',
    minutes: parseSet(minutes, { label: 'minutes', min: 0, max: 59 }),
    hours: parseSet(hours, { label: 'hours', min: 0, max: 23 }),
    months: new Set(parseSet(month, { label: 'month', min: 1, max: 12, names: MONTH_NAMES })),
    years: year === '*' ? 'any' : new Set(parseSet(year, { label: 'year', min: 1970, max: 2199 })),
    day: dayOfMonth === '?' ? dayOfWeekMatcher(dayOfWeek) : dayOfMonthMatcher(dayOfMonth),
  };
}

// ---------------------------------------------------------------------------------------
// Wall-clock time in a zone, with Intl

interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function wallTimeAt(instantMs: number, timeZone: string): WallTime & { second: number } {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(instantMs))
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
  };
}

/** The zone's offset from UTC at an instant, in ms (Europe/Paris in summer: +2 h). */
function offsetAt(instantMs: number, timeZone: string): number {
  const wall = wallTimeAt(instantMs, timeZone);
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  return asUtc - (instantMs - (((instantMs % 1000) + 1000) % 1000));
}

/**
 * The instants at which a zone's clocks show this wall time: none in a DST gap, two in an
 * overlap (earliest first), one otherwise.
 */
function instantsOf(wall: WallTime, timeZone: string): number[] {
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  // The offsets in force a day either side cover any one transition near this time.
  const offsets = new Set([
    offsetAt(asUtc - 86_400_000, timeZone),
    offsetAt(asUtc, timeZone),
    offsetAt(asUtc + 86_400_000, timeZone),
  ]);
  const instants: number[] = [];
  for (const offset of offsets) {
    const instant = asUtc - offset;
    const shown = wallTimeAt(instant, timeZone);
    if (
      shown.year === wall.year &&
      shown.month === wall.month &&
      shown.day === wall.day &&
      shown.hour === wall.hour &&
      shown.minute === wall.minute
    ) {
      instants.push(instant);
    }
  }
  return [...new Set(instants)].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------
// Next fire time

/** Cron searches stop after this many calendar days (an expression that never fires again). */
const MAX_SEARCH_DAYS = 366 * 230;

/**
 * The first time strictly after `after` at which the schedule fires, or undefined when it
 * never fires again (a cron whose years are all past).
 *
 * `rate(N unit)` fires every N units from `anchor` (default: the Unix epoch, so
 * `rate(15 minutes)` fires at :00, :15, :30 and :45 UTC); the time zone does not apply.
 */
export function nextFireTime(
  expression: string,
  timezone: string,
  after: Date,
  anchor: Date = new Date(0),
): Date | undefined {
  const parsed = parseExpression(expression);
  const afterMs = after.getTime();
  if (parsed.kind === 'rate') {
    const periods = Math.floor((afterMs - anchor.getTime()) / parsed.everyMs) + 1;
    return new Date(anchor.getTime() + Math.max(periods, 1) * parsed.everyMs);
  }
  const start = wallTimeAt(afterMs, timezone);
  // Calendar arithmetic on a UTC date: the zone only matters when turning wall times into instants.
  const cursor = new Date(Date.UTC(start.year, start.month - 1, start.day));
  for (let days = 0; days < MAX_SEARCH_DAYS; days += 1, cursor.setUTCDate(cursor.getUTCDate() + 1)) {
    const year = cursor.getUTCFullYear();
    const month = cursor.getUTCMonth() + 1;
    const day = cursor.getUTCDate();
    if (parsed.years !== 'any' && !parsed.years.has(year)) {
      if (year > Math.max(...parsed.years)) return undefined;
      continue;
    }
    if (!parsed.months.has(month) || !parsed.day(year, month, day)) continue;
    for (const hour of parsed.hours) {
      for (const minute of parsed.minutes) {
        // Skipped in a gap; the first of two in an overlap (Scheduler fires once).
        const instant = instantsOf({ year, month, day, hour, minute }, timezone)[0];
        if (instant !== undefined && instant > afterMs) return new Date(instant);
      }
    }
  }
  return undefined;
}
