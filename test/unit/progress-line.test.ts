import { describe, expect, it } from 'vitest';
import { progressLine, startingLine } from '../../cli/output/progress.ts';
import { idleMinutesFromEnv } from '../../cli/local/shared-db.ts';

function stream(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, written, write: (text: string) => written.push(text) };
}

describe('the progress line while the local database starts', () => {
  it('on a terminal: one line updated in place with the seconds so far, erased when done', () => {
    const terminal = stream(true);
    let now = 1_000;
    const done = progressLine('starting the local database', terminal, () => now);
    now = 4_100;
    done();
    done();
    expect(terminal.written).toEqual(['\rstarting the local database… 0.0 s\x1b[K', '\r\x1b[K']);
  });

  it('redraws every tenth of a second with the time so far', async () => {
    const terminal = stream(true);
    const started = Date.now();
    const done = progressLine('starting', terminal, () => started + terminal.written.length * 1_000);
    await new Promise((resolve) => setTimeout(resolve, 250));
    done();
    expect(terminal.written.slice(0, 3)).toEqual([
      '\rstarting… 0.0 s\x1b[K',
      '\rstarting… 1.0 s\x1b[K',
      '\rstarting… 2.0 s\x1b[K',
    ]);
    expect(terminal.written.at(-1)).toBe('\r\x1b[K');
  });

  it('writes nothing when not a terminal (pipes, logs, tests), and is off under --json', () => {
    const pipe = stream(false);
    progressLine('starting the local database', pipe)();
    expect(pipe.written).toEqual([]);
    expect(startingLine({ json: true }, stream(true))).toBeUndefined();
    const terminal = stream(true);
    startingLine({}, terminal)!()?.();
    expect(terminal.written[0]).toContain('starting the local database…');
  });
});

describe('LOOPRAIL_LOCAL_DB_IDLE_MINUTES', () => {
  it('defaults to 5 minutes, and to none (nothing left running) under CI or the tests', () => {
    expect(idleMinutesFromEnv({})).toBe(5);
    expect(idleMinutesFromEnv({ CI: 'true' })).toBe(0);
    expect(idleMinutesFromEnv({ VITEST: 'true' })).toBe(0);
    expect(idleMinutesFromEnv({ CI: 'true', LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '2.5' })).toBe(2.5);
    expect(idleMinutesFromEnv({ LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '0' })).toBe(0);
  });

  it('refuses what is not a number of minutes, naming the variable', () => {
    expect(() => idleMinutesFromEnv({ LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '5m' })).toThrow(
      'LOOPRAIL_LOCAL_DB_IDLE_MINUTES must be a number of minutes (0: no background database), not "5m"',
    );
    expect(() => idleMinutesFromEnv({ LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '-1' })).toThrow(/not "-1"/);
  });
});
