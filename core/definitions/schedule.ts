import * as z from './zod.ts';

/**
 * Schedules are written the way people know them (`0 6 * * 1-5`) or the way
 * EventBridge Scheduler takes them (`cron(0 6 ? * MON-FRI *)`, `rate(15 minutes)`),
 * and always checked against Scheduler's own rules, so `validate` rejects what a
 * deploy would.
 */

export interface Schedule {
  /** The expression as Scheduler takes it: `cron(...)` or `rate(...)`. */
  expression: string;
  /** IANA time zone; Scheduler's default is UTC. */
  timezone: string;
}

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

interface FieldRule {
  label: string;
  min: number;
  max: number;
  names?: string[];
  /** Scheduler's special characters beyond `, - * /`. */
  extra?: RegExp;
}

const EB_FIELDS: FieldRule[] = [
  { label: 'minutes', min: 0, max: 59 },
  { label: 'hours', min: 0, max: 23 },
  { label: 'day-of-month', min: 1, max: 31, extra: /^(\?|L|LW|\d{1,2}W)$/ },
  { label: 'month', min: 1, max: 12, names: MONTH_NAMES },
  {
    label: 'day-of-week',
    min: 1,
    max: 7,
    names: DAY_NAMES,
    extra: /^(\?|L|[1-7]L|[A-Z]{3}L|[1-7]#[1-5]|[A-Z]{3}#[1-5])$/,
  },
  { label: 'year', min: 1970, max: 2199 },
];

function parseValue(token: string, rule: FieldRule, names: string[] | undefined, offset: number): number | string {
  if (/^\d+$/.test(token)) {
    const value = Number(token);
    if (value < rule.min || value > rule.max) return `${rule.label} value ${token} is outside ${rule.min}-${rule.max}`;
    return value;
  }
  const index = names?.indexOf(token.toUpperCase()) ?? -1;
  if (index >= 0) return index + offset;
  return `${rule.label} has "${token}", expected a number ${rule.min}-${rule.max}${names ? ` or a name (${names[0]}-${names[names.length - 1]})` : ''}`;
}

/** Checks one field of a Scheduler cron expression; returns a problem or null. */
function checkField(field: string, rule: FieldRule): string | null {
  if (rule.extra?.test(field)) return null;
  const offset = rule.names === DAY_NAMES ? 1 : rule.names === MONTH_NAMES ? 1 : 0;
  for (const part of field.split(',')) {
    if (part === '') return `${rule.label} has an empty list item`;
    if (rule.extra?.test(part) && field.includes(',')) return `${rule.label} cannot combine "${part}" with a list`;
    const [range, step, ...rest] = part.split('/');
    if (rest.length > 0) return `${rule.label} has more than one "/" in "${part}"`;
    if (step !== undefined && !/^\d+$/.test(step)) return `${rule.label} step "${step}" is not a number`;
    if (step !== undefined && Number(step) === 0) return `${rule.label} step cannot be 0`;
    if (range === '*') continue;
    const bounds = range!.split('-');
    if (bounds.length > 2) return `${rule.label} range "${range}" has too many "-"`;
    const values = bounds.map((bound) => parseValue(bound, rule, rule.names, offset));
    const problem = values.find((value) => typeof value === 'string');
    if (problem !== undefined) return problem as string;
  }
  return null;
}

/** Validates `cron(...)` by EventBridge Scheduler's rules. */
export function checkSchedulerCron(body: string): string | null {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) {
    return `a Scheduler cron expression has 6 fields (minutes hours day-of-month month day-of-week year), found ${fields.length}`;
  }
  for (const [index, rule] of EB_FIELDS.entries()) {
    const problem = checkField(fields[index]!, rule);
    if (problem) return problem;
  }
  const dayOfMonth = fields[2]!;
  const dayOfWeek = fields[4]!;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    return 'exactly one of day-of-month and day-of-week must be "?" (Scheduler cannot restrict both, or neither)';
  }
  return null;
}

const RATE = /^(\d+)\s+(minute|minutes|hour|hours|day|days)$/;

export function checkSchedulerRate(body: string): string | null {
  const match = RATE.exec(body.trim());
  if (!match) return 'a rate is "rate(N minutes|hours|days)"';
  const value = Number(match[1]);
  const unit = match[2]!;
  if (value < 1) return 'a rate must be at least 1';
  if (value === 1 && unit.endsWith('s'))
    return `write "rate(1 ${unit.slice(0, -1)})": Scheduler wants the singular unit for 1`;
  if (value > 1 && !unit.endsWith('s'))
    return `write "rate(${value} ${unit}s)": Scheduler wants the plural unit above 1`;
  return null;
}

/** The unix day-of-week (0-7, Sunday 0 or 7) as Scheduler's names, which avoids its 1-7 numbering. */
function unixDayOfWeek(field: string): string | { problem: string } {
  if (field === '*') return '?';
  const names: string[] = [];
  for (const part of field.split(',')) {
    const [range, step] = part.split('/');
    const convert = (token: string): string | null => {
      if (/^\d$/.test(token) && Number(token) <= 7) return DAY_NAMES[Number(token) % 7]!;
      const upper = token.toUpperCase();
      return DAY_NAMES.includes(upper) ? upper : null;
    };
    if (range === '*') {
      names.push(step ? `*/${step}` : '*');
      continue;
    }
    const bounds = range!.split('-').map(convert);
    if (bounds.some((bound) => bound === null)) return { problem: `day-of-week "${part}" is not 0-7 or SUN-SAT` };
    names.push(bounds.join('-') + (step ? `/${step}` : ''));
  }
  return names.join(',');
}

/** Translates a 5-field unix cron (`0 6 * * 1-5`) into Scheduler's 6-field form. */
export function unixCronToScheduler(text: string): { expression: string } | { problem: string } {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 5) {
    return {
      problem: `a cron expression has 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}`,
    };
  }
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [string, string, string, string, string];
  if (dayOfMonth !== '*' && dayOfWeek !== '*') {
    return {
      problem:
        'this cron restricts both day-of-month and day-of-week; Scheduler cannot express that, so restrict one and leave the other "*"',
    };
  }
  const weekday = unixDayOfWeek(dayOfWeek);
  if (typeof weekday !== 'string') return weekday;
  const monthDay = dayOfWeek === '*' ? dayOfMonth : '?';
  const expression = `cron(${minute} ${hour} ${monthDay} ${month} ${weekday} *)`;
  const problem = checkSchedulerCron(expression.slice(5, -1));
  return problem ? { problem } : { expression };
}

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Any accepted spelling → Scheduler's expression, or the reason Scheduler would reject it. */
export function toSchedulerExpression(text: string): { expression: string } | { problem: string } {
  const trimmed = text.trim();
  const wrapped = /^(cron|rate|at)\((.*)\)$/s.exec(trimmed);
  if (wrapped) {
    const [, kind, body] = wrapped;
    if (kind === 'at')
      return { problem: 'one-time at(...) schedules are not supported for loops; use cron(...) or rate(...)' };
    const problem = kind === 'cron' ? checkSchedulerCron(body!) : checkSchedulerRate(body!);
    return problem ? { problem } : { expression: `${kind}(${body!.trim().replace(/\s+/g, ' ')})` };
  }
  return unixCronToScheduler(trimmed);
}

const ScheduleText = z.string({ error: 'expected a cron expression, cron(...), rate(...), or { cron, timezone }' });

function toSchedule(text: string, timezone: string, ctx: z.core.ParsePayload): Schedule {
  const result = toSchedulerExpression(text);
  if ('problem' in result) {
    ctx.issues.push({
      code: 'custom',
      message: `EventBridge Scheduler would reject "${text}": ${result.problem}`,
      input: ctx.value,
    });
    return { expression: text, timezone };
  }
  return { expression: result.expression, timezone };
}

export const ScheduleSpec = z.union(
  [
    z.pipe(
      ScheduleText,
      z.transform((text: string, ctx) => toSchedule(text, 'UTC', ctx)),
    ),
    z.pipe(
      z
        .strictObject({
          cron: z.optional(z.string()).check(z.describe('A cron expression: 0 6 * * 1-5, or cron(0 6 ? * MON-FRI *).')),
          rate: z.optional(z.string()).check(z.describe('A rate: 15 minutes, or rate(15 minutes).')),
          timezone: z
            ._default(
              z
                .string()
                .check(z.refine(isTimeZone, 'expected an IANA time zone such as Europe/Paris or America/New_York')),
              'UTC',
            )
            .check(z.describe('The IANA time zone the cron expression is read in, e.g. Europe/Paris.')),
        })
        .check(
          z.refine(
            (spec) => (spec.cron === undefined) !== (spec.rate === undefined),
            'expected exactly one of cron or rate',
          ),
        ),
      z.transform((spec: { cron?: string; rate?: string; timezone: string }, ctx) =>
        toSchedule(spec.cron ?? `rate(${spec.rate!.replace(/^rate\((.*)\)$/, '$1')})`, spec.timezone, ctx),
      ),
    ),
  ],
  { error: 'expected a cron expression, cron(...), rate(...), or { cron | rate, timezone }' },
);
