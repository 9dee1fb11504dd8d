import { describe, expect, it } from 'vitest';
import { LocalScheduler, type Timers } from '../../cli/local/scheduler.ts';
import { nextFireTime } from '../../cli/local/schedule-expressions.ts';
import { AgentSpec, TriggerSpec } from '../../core/definitions/agent.ts';
import type { AgentEntry, Catalog } from '../../core/definitions/catalog.ts';

const at = (iso: string) => new Date(iso);
const next = (expression: string, after: string, timezone = 'UTC') =>
  nextFireTime(expression, timezone, at(after))?.toISOString();

/** The next `count` firings after `after`. */
function firings(expression: string, after: string, count: number, timezone = 'UTC'): string[] {
  const times: string[] = [];
  let cursor = at(after);
  for (let i = 0; i < count; i += 1) {
    const fire = nextFireTime(expression, timezone, cursor);
    if (!fire) break;
    times.push(fire.toISOString());
    cursor = fire;
  }
  return times;
}

describe('nextFireTime: cron fields', () => {
  it('fires strictly after the given time', () => {
    expect(next('cron(0 6 * * ? *)', '2025-03-03T05:59:59Z')).toBe('2025-03-03T06:00:00.000Z');
    expect(next('cron(0 6 * * ? *)', '2025-03-03T06:00:00Z')).toBe('2025-03-04T06:00:00.000Z');
    expect(next('cron(0 6 * * ? *)', '2025-03-03T06:00:00.001Z')).toBe('2025-03-04T06:00:00.000Z');
  });

  it('weekday ranges by name and by number (1 = SUN … 7 = SAT), and wrapping ranges', () => {
    // 2025-03-07 is a Friday.
    expect(firings('cron(0 9 ? * MON-FRI *)', '2025-03-06T10:00:00Z', 3)).toEqual([
      '2025-03-07T09:00:00.000Z',
      '2025-03-10T09:00:00.000Z',
      '2025-03-11T09:00:00.000Z',
    ]);
    expect(firings('cron(0 9 ? * 2-6 *)', '2025-03-06T10:00:00Z', 3)).toEqual(
      firings('cron(0 9 ? * MON-FRI *)', '2025-03-06T10:00:00Z', 3),
    );
    expect(firings('cron(0 9 ? * FRI-MON *)', '2025-03-06T10:00:00Z', 5)).toEqual([
      '2025-03-07T09:00:00.000Z',
      '2025-03-08T09:00:00.000Z',
      '2025-03-09T09:00:00.000Z',
      '2025-03-10T09:00:00.000Z',
      '2025-03-14T09:00:00.000Z',
    ]);
    expect(firings('cron(0 12 ? * SUN,WED *)', '2025-03-06T00:00:00Z', 3)).toEqual([
      '2025-03-09T12:00:00.000Z',
      '2025-03-12T12:00:00.000Z',
      '2025-03-16T12:00:00.000Z',
    ]);
  });

  it('lists, ranges and steps in minutes and hours', () => {
    expect(firings('cron(*/20 * * * ? *)', '2025-03-03T10:05:00Z', 4)).toEqual([
      '2025-03-03T10:20:00.000Z',
      '2025-03-03T10:40:00.000Z',
      '2025-03-03T11:00:00.000Z',
      '2025-03-03T11:20:00.000Z',
    ]);
    expect(firings('cron(5/30 * * * ? *)', '2025-03-03T10:00:00Z', 3)).toEqual([
      '2025-03-03T10:05:00.000Z',
      '2025-03-03T10:35:00.000Z',
      '2025-03-03T11:05:00.000Z',
    ]);
    expect(firings('cron(0 8-18/5 * * ? *)', '2025-03-03T09:00:00Z', 4)).toEqual([
      '2025-03-03T13:00:00.000Z',
      '2025-03-03T18:00:00.000Z',
      '2025-03-04T08:00:00.000Z',
      '2025-03-04T13:00:00.000Z',
    ]);
    expect(firings('cron(15,45 7,19 * * ? *)', '2025-03-03T00:00:00Z', 5)).toEqual([
      '2025-03-03T07:15:00.000Z',
      '2025-03-03T07:45:00.000Z',
      '2025-03-03T19:15:00.000Z',
      '2025-03-03T19:45:00.000Z',
      '2025-03-04T07:15:00.000Z',
    ]);
  });

  it('crosses month and year boundaries, and skips months without the day', () => {
    expect(next('cron(0 0 31 * ? *)', '2025-01-31T00:00:00Z')).toBe('2025-03-31T00:00:00.000Z');
    expect(next('cron(30 23 29 FEB ? *)', '2025-01-01T00:00:00Z')).toBe('2028-02-29T23:30:00.000Z');
    expect(next('cron(0 0 1 JAN,JUL ? *)', '2025-07-01T00:00:00Z')).toBe('2026-01-01T00:00:00.000Z');
    expect(next('cron(59 23 31 DEC ? *)', '2025-12-31T23:59:00Z')).toBe('2026-12-31T23:59:00.000Z');
  });

  it('L, LW and nW in day-of-month', () => {
    expect(firings('cron(0 0 L * ? *)', '2024-01-15T00:00:00Z', 3)).toEqual([
      '2024-01-31T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
      '2024-03-31T00:00:00.000Z',
    ]);
    // The last weekday: 2025-05-31 is a Saturday, so Friday the 30th; 2025-08-31 is a Sunday, so Friday the 29th.
    expect(next('cron(0 0 LW * ? *)', '2025-05-01T00:00:00Z')).toBe('2025-05-30T00:00:00.000Z');
    expect(next('cron(0 0 LW * ? *)', '2025-08-01T00:00:00Z')).toBe('2025-08-29T00:00:00.000Z');
    // 15W: 2025-03-15 is a Saturday → Friday 14th; 2025-06-15 is a Sunday → Monday 16th.
    expect(next('cron(0 0 15W * ? *)', '2025-03-01T00:00:00Z')).toBe('2025-03-14T00:00:00.000Z');
    expect(next('cron(0 0 15W * ? *)', '2025-06-01T00:00:00Z')).toBe('2025-06-16T00:00:00.000Z');
    // 1W never leaves the month: 2025-03-01 is a Saturday → Monday 3rd.
    expect(next('cron(0 0 1W * ? *)', '2025-02-15T00:00:00Z')).toBe('2025-03-03T00:00:00.000Z');
    // 31W: only months with a 31st (2025-08-31 is a Sunday → Friday 29th).
    expect(next('cron(0 0 31W * ? *)', '2025-06-01T00:00:00Z')).toBe('2025-07-31T00:00:00.000Z');
    expect(next('cron(0 0 31W * ? *)', '2025-08-01T00:00:00Z')).toBe('2025-08-29T00:00:00.000Z');
  });

  it('L, nL and n#k in day-of-week', () => {
    // L alone: Saturday.
    expect(next('cron(0 0 ? * L *)', '2025-03-03T00:00:00Z')).toBe('2025-03-08T00:00:00.000Z');
    // The last Friday of the month.
    expect(firings('cron(0 17 ? * 6L *)', '2025-03-01T00:00:00Z', 2)).toEqual([
      '2025-03-28T17:00:00.000Z',
      '2025-04-25T17:00:00.000Z',
    ]);
    expect(next('cron(0 17 ? * FRIL *)', '2025-03-01T00:00:00Z')).toBe('2025-03-28T17:00:00.000Z');
    // The second Tuesday (Patch Tuesday).
    expect(firings('cron(0 18 ? * TUE#2 *)', '2025-01-01T00:00:00Z', 3)).toEqual([
      '2025-01-14T18:00:00.000Z',
      '2025-02-11T18:00:00.000Z',
      '2025-03-11T18:00:00.000Z',
    ]);
    expect(next('cron(0 18 ? * 3#2 *)', '2025-01-01T00:00:00Z')).toBe('2025-01-14T18:00:00.000Z');
    // A fifth Monday exists only in some months.
    expect(next('cron(0 0 ? * MON#5 *)', '2025-01-01T00:00:00Z')).toBe('2025-03-31T00:00:00.000Z');
  });

  it('the year field: future years, and no firing once they are past', () => {
    expect(next('cron(0 0 1 1 ? 2030)', '2025-06-01T00:00:00Z')).toBe('2030-01-01T00:00:00.000Z');
    expect(next('cron(0 0 1 1 ? 2020-2024)', '2025-06-01T00:00:00Z')).toBeUndefined();
  });
});

describe('nextFireTime: time zones and daylight saving time', () => {
  it('evaluates in the schedule time zone', () => {
    // 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    expect(next('cron(0 9 ? * MON-FRI *)', '2025-01-06T00:00:00Z', 'Europe/Paris')).toBe('2025-01-06T08:00:00.000Z');
    expect(next('cron(0 9 ? * MON-FRI *)', '2025-07-07T00:00:00Z', 'Europe/Paris')).toBe('2025-07-07T07:00:00.000Z');
    expect(next('cron(0 9 ? * MON-FRI *)', '2025-07-07T00:00:00Z', 'America/New_York')).toBe(
      '2025-07-07T13:00:00.000Z',
    );
    // The local date decides the day: Monday 08:00 in Tokyo is Sunday 23:00 UTC.
    expect(next('cron(0 8 ? * MON *)', '2025-03-01T00:00:00Z', 'Asia/Tokyo')).toBe('2025-03-02T23:00:00.000Z');
    // Half-hour offsets.
    expect(next('cron(0 9 * * ? *)', '2025-03-01T00:00:00Z', 'Asia/Kolkata')).toBe('2025-03-01T03:30:00.000Z');
  });

  it('keeps the local time across the spring change in Europe/Paris (2025-03-30)', () => {
    expect(firings('cron(0 9 * * ? *)', '2025-03-28T12:00:00Z', 3, 'Europe/Paris')).toEqual([
      '2025-03-29T08:00:00.000Z',
      '2025-03-30T07:00:00.000Z',
      '2025-03-31T07:00:00.000Z',
    ]);
  });

  it('skips a time that does not exist on the spring-forward day (02:30 in Paris)', () => {
    expect(firings('cron(30 2 * * ? *)', '2025-03-28T12:00:00Z', 3, 'Europe/Paris')).toEqual([
      '2025-03-29T01:30:00.000Z',
      '2025-03-31T00:30:00.000Z',
      '2025-04-01T00:30:00.000Z',
    ]);
    // Every 30 minutes: 01:30 CET then straight to 03:00 CEST.
    expect(firings('cron(0/30 * * * ? *)', '2025-03-30T00:00:00Z', 3, 'Europe/Paris')).toEqual([
      '2025-03-30T00:30:00.000Z',
      '2025-03-30T01:00:00.000Z',
      '2025-03-30T01:30:00.000Z',
    ]);
    expect(nextFireTime('cron(0/30 * * * ? *)', 'Europe/Paris', at('2025-03-30T00:30:00Z'))?.toISOString()).toBe(
      '2025-03-30T01:00:00.000Z',
    );
  });

  it('fires a repeated time once on the fall-back day (02:30 in Paris, 2025-10-26), at its first occurrence', () => {
    expect(firings('cron(30 2 * * ? *)', '2025-10-25T12:00:00Z', 3, 'Europe/Paris')).toEqual([
      '2025-10-26T00:30:00.000Z',
      '2025-10-27T01:30:00.000Z',
      '2025-10-28T01:30:00.000Z',
    ]);
    // Hourly: 02:00 CEST fires, 02:00 CET (the repeat) does not, 03:00 CET does.
    expect(firings('cron(0 * * * ? *)', '2025-10-25T23:30:00Z', 3, 'Europe/Paris')).toEqual([
      '2025-10-26T00:00:00.000Z',
      '2025-10-26T02:00:00.000Z',
      '2025-10-26T03:00:00.000Z',
    ]);
  });

  it('keeps weekly schedules on local time across the US change', () => {
    expect(firings('cron(0 9 ? * SUN *)', '2025-03-01T00:00:00Z', 2, 'America/New_York')).toEqual([
      '2025-03-02T14:00:00.000Z',
      '2025-03-09T13:00:00.000Z',
    ]);
  });
});

describe('nextFireTime: rate()', () => {
  it('counts fixed durations from the anchor (default the epoch)', () => {
    expect(next('rate(15 minutes)', '2025-03-03T10:07:00Z')).toBe('2025-03-03T10:15:00.000Z');
    expect(next('rate(15 minutes)', '2025-03-03T10:15:00Z')).toBe('2025-03-03T10:30:00.000Z');
    expect(next('rate(1 hour)', '2025-03-03T10:00:00Z')).toBe('2025-03-03T11:00:00.000Z');
    const anchor = at('2025-03-03T10:02:00Z');
    expect(nextFireTime('rate(5 minutes)', 'UTC', at('2025-03-03T10:02:00Z'), anchor)?.toISOString()).toBe(
      '2025-03-03T10:07:00.000Z',
    );
    expect(nextFireTime('rate(5 minutes)', 'UTC', at('2025-03-03T10:09:59Z'), anchor)?.toISOString()).toBe(
      '2025-03-03T10:12:00.000Z',
    );
  });

  it('a day is 24 hours, whatever the zone or DST', () => {
    const anchor = at('2025-03-29T08:00:00Z');
    expect(nextFireTime('rate(1 day)', 'Europe/Paris', at('2025-03-29T08:00:00Z'), anchor)?.toISOString()).toBe(
      '2025-03-30T08:00:00.000Z',
    );
    expect(nextFireTime('rate(2 days)', 'Europe/Paris', at('2025-03-29T08:00:00Z'), anchor)?.toISOString()).toBe(
      '2025-03-31T08:00:00.000Z',
    );
  });

  it('refuses what is not a Scheduler expression', () => {
    expect(() => nextFireTime('0 6 * * *', 'UTC', new Date())).toThrow(/not a Scheduler expression/);
    expect(() => nextFireTime('rate(0 minutes)', 'UTC', new Date())).toThrow();
    expect(() => nextFireTime('cron(0 6 * * * *)', 'UTC', new Date())).toThrow(/"\?"/);
  });
});

// ---------------------------------------------------------------------------------------

/** A clock and timers that move only when the test says so. */
function manualTime(start: string) {
  let now = at(start).getTime();
  let nextId = 0;
  const pending = new Map<number, { due: number; callback: () => void }>();
  const timers: Timers = {
    setTimeout(callback, ms) {
      const id = nextId++;
      pending.set(id, { due: now + ms, callback });
      return id;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    clock: { now: () => new Date(now) },
    timers,
    pending: () => pending.size,
    /** Moves the clock forward, running each timer when its time comes. */
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...pending.entries()]
          .filter(([, timer]) => timer.due <= end)
          .sort((a, b) => a[1].due - b[1].due)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = Math.max(now, due[1].due);
        due[1].callback();
      }
      now = end;
    },
    /** Jumps the clock without running timers (a laptop asleep). */
    jump(ms: number) {
      now += ms;
    },
  };
}

const instructions = { path: './i.md', version: 'v1', text: 'Do the work.', sha256: '' };
function catalogWith(agents: Array<{ name: string; enabled?: boolean; schedule?: unknown }>): Catalog {
  const entries: Record<string, AgentEntry> = {};
  for (const agent of agents) {
    entries[agent.name] = {
      file: `${agent.name}.yaml`,
      spec: AgentSpec.parse({
        name: agent.name,
        model: 'm',
        instructions: './i.md@v1',
        enabled: agent.enabled ?? true,
      }),
      trigger: agent.schedule === undefined ? undefined : TriggerSpec.parse({ schedule: agent.schedule }),
      instructions,
      subagentInstructions: {},
    };
  }
  return { agents: entries, models: {}, servers: {}, skills: {}, secrets: [], budgets: { budgets: [], limits: [] } };
}

describe('LocalScheduler', () => {
  const setup = (agents: Parameters<typeof catalogWith>[0], start = '2025-03-03T08:59:30Z', fail = false) => {
    const time = manualTime(start);
    const fired: string[] = [];
    const scheduler = new LocalScheduler({
      catalog: catalogWith(agents),
      clock: time.clock,
      timers: time.timers,
      fire: async (agent, scheduledTime) => {
        fired.push(`${agent} ${scheduledTime}`);
        if (fail) throw new Error('the store is down');
      },
    });
    return { time, fired, scheduler };
  };

  it('fires each enabled agent at its times, in its zone, and skips paused agents', async () => {
    const { time, fired, scheduler } = setup([
      { name: 'weekday', schedule: { cron: '0 10 * * 1-5', timezone: 'Europe/Paris' } },
      { name: 'quarterly', schedule: 'rate(15 minutes)' },
      { name: 'paused', enabled: false, schedule: 'rate(1 minute)' },
      { name: 'manual' },
    ]);
    expect(scheduler.list().map((entry) => entry.agent)).toEqual(['quarterly', 'weekday']);
    time.advance(60 * 60_000);
    expect(fired).toEqual([
      'weekday 2025-03-03T09:00:00.000Z',
      'quarterly 2025-03-03T09:14:00.000Z',
      'quarterly 2025-03-03T09:29:00.000Z',
      'quarterly 2025-03-03T09:44:00.000Z',
      'quarterly 2025-03-03T09:59:00.000Z',
    ]);
    await scheduler.stop();
    expect(time.pending()).toBe(0);
  });

  it('never fires the same scheduled time twice, even when a timer runs again', async () => {
    const { time, fired, scheduler } = setup([{ name: 'hourly', schedule: 'cron(0 * * * ? *)' }]);
    time.advance(30_000);
    expect(fired).toEqual(['hourly 2025-03-03T09:00:00.000Z']);
    // The same catalog again changes nothing; the next firing is the next hour.
    scheduler.update(catalogWith([{ name: 'hourly', schedule: 'cron(0 * * * ? *)' }]));
    time.advance(60_000);
    expect(fired).toEqual(['hourly 2025-03-03T09:00:00.000Z']);
    time.advance(3600_000);
    expect(fired).toEqual(['hourly 2025-03-03T09:00:00.000Z', 'hourly 2025-03-03T10:00:00.000Z']);
    await scheduler.stop();
  });

  it('fires a late timer once and does not replay the times it missed', async () => {
    const { time, fired, scheduler } = setup([{ name: 'hourly', schedule: 'cron(0 * * * ? *)' }]);
    time.jump(5 * 3600_000);
    time.advance(0);
    expect(fired).toEqual(['hourly 2025-03-03T09:00:00.000Z']);
    expect(scheduler.list()[0]!.next).toBe('2025-03-03T14:00:00.000Z');
    await scheduler.stop();
  });

  it('applies a changed catalog: paused, removed and new schedules', async () => {
    const { time, fired, scheduler } = setup([{ name: 'a', schedule: 'cron(0 * * * ? *)' }]);
    scheduler.update(
      catalogWith([
        { name: 'a', enabled: false, schedule: 'cron(0 * * * ? *)' },
        { name: 'b', schedule: 'cron(30 * * * ? *)' },
      ]),
    );
    time.advance(3600_000);
    expect(fired).toEqual(['b 2025-03-03T09:30:00.000Z']);
    await scheduler.stop();
    time.advance(3600_000);
    expect(fired).toHaveLength(1);
  });

  it('logs a firing that fails and keeps going', async () => {
    const { time, fired, scheduler } = setup(
      [{ name: 'hourly', schedule: 'cron(0 * * * ? *)' }],
      '2025-03-03T08:59:30Z',
      true,
    );
    time.advance(2 * 3600_000);
    await scheduler.stop();
    expect(fired).toEqual(['hourly 2025-03-03T09:00:00.000Z', 'hourly 2025-03-03T10:00:00.000Z']);
  });

  it('waits beyond setTimeout’s 24.8-day ceiling in steps', async () => {
    const { time, fired, scheduler } = setup([{ name: 'yearly', schedule: 'cron(0 0 1 JAN ? *)' }]);
    time.advance(310 * 86_400_000);
    expect(fired).toEqual(['yearly 2026-01-01T00:00:00.000Z']);
    await scheduler.stop();
  });
});
