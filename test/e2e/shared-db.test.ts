import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, readLease, type Lease } from '../../cli/local/shared-db.ts';
import { looprailCli, type CliResult } from '../support/looprail-cli.ts';

/**
 * The read commands with the shared local database (cli/local/shared-db.ts): the first one
 * starts it in the background, the next ones reuse it, and they print exactly what a cold
 * command (its own database, started and stopped) prints; once idle, the background process
 * stops its JVM and exits, leaving nothing behind.
 */

const temps: string[] = [];
const leases: Lease[] = [];
afterAll(async () => {
  // Whatever happened above, no background process or JVM outlives the test.
  for (const lease of leases) {
    for (const pid of [lease.pid, lease.javaPid]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

const cold = { LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '0' };
/** Half a minute: long enough for the gaps between commands on a busy machine, short enough to watch it stop. */
const background = { LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '0.5' };

async function reads(state: string, runId: string, env: NodeJS.ProcessEnv): Promise<CliResult[]> {
  const results: CliResult[] = [];
  for (const args of [['runs'], ['runs', '--json'], ['trace', runId], ['trace', runId, '--json'], ['costs']]) {
    results.push(await looprailCli([...args, '--state-dir', state], { env }));
  }
  return results;
}

/** Trace output holds the trace's own times, not the reading's: two reads of one run are equal byte for byte. */
const outputs = (results: CliResult[]) => results.map((result) => [result.code, result.stdout, result.stderr]);

describe('the shared local database', () => {
  it('reused by the read commands, which print what a cold read prints; it stops when idle', async () => {
    const state = await mkdtemp(join(tmpdir(), 'looprail-shared-db-'));
    temps.push(state);
    const ran = await looprailCli(
      ['run', 'morning-triage-loop', '--org', 'test/fixtures/brief-org', '--state-dir', state, '--json'],
      { env: cold },
    );
    expect(ran.code, ran.stderr).toBe(0);
    const { runId } = JSON.parse(ran.stdout) as { runId: string };
    // A command's own database is gone with it, and so is its lease.
    expect(await readLease(state)).toBeUndefined();

    const coldReads = await reads(state, runId, cold);
    expect(coldReads.map((result) => result.code)).toEqual([0, 0, 0, 0, 0]);
    expect(coldReads[2]!.stdout).toContain(`run ${runId}`);
    expect(await readLease(state)).toBeUndefined();

    const warmReads = await reads(state, runId, background);
    const lease = await readLease(state);
    expect(lease?.kind).toBe('background');
    leases.push(lease!);
    expect(isAlive(lease!.pid) && isAlive(lease!.javaPid)).toBe(true);
    expect(outputs(warmReads)).toEqual(outputs(coldReads));
    // Every command let go of it.
    expect(await readdir(join(state, 'dynamodb.holders'))).toEqual([]);

    // Idle for its half minute: it stops the JVM, removes its lease and exits.
    const deadline = Date.now() + 180_000;
    while ((isAlive(lease!.pid) || isAlive(lease!.javaPid)) && Date.now() < deadline) await sleep(250);
    expect(isAlive(lease!.javaPid), 'the JVM still runs').toBe(false);
    expect(isAlive(lease!.pid), 'the background process still runs').toBe(false);
    expect(existsSync(join(state, 'dynamodb.json'))).toBe(false);
    expect(await readFile(join(state, 'dynamodb.log'), 'utf8')).toMatch(/stopped: idle for \d+ s/);
  }, 400_000);

  it('a second command reuses the running database (no second JVM); `looprail db stop` stops it', async () => {
    const state = await mkdtemp(join(tmpdir(), 'looprail-shared-db-'));
    temps.push(state);
    const first = await looprailCli(['runs', '--state-dir', state], { env: background });
    expect(first).toEqual({ code: 0, stdout: 'no runs yet: try `npm run demo`\n', stderr: '' });
    const lease = (await readLease(state))!;
    leases.push(lease);
    const again = await looprailCli(['runs', '--state-dir', state], { env: background });
    expect(again).toEqual(first);
    // The same database answered: no second JVM was started.
    expect(await readLease(state)).toEqual(lease);

    expect((await looprailCli(['db', 'status', '--state-dir', state])).stdout).toMatch(
      new RegExp(
        `^${lease.endpoint}: run by the background process ${lease.pid} \\(Java ${lease.javaPid}\\), last used \\d+ s ago\n$`,
      ),
    );
    // Stopped on demand: the JVM and the background process end, the lease goes.
    expect(await looprailCli(['db', 'stop', '--state-dir', state])).toEqual({
      code: 0,
      stdout: `stopped the local database of ${state}\n`,
      stderr: '',
    });
    expect(isAlive(lease.javaPid)).toBe(false);
    expect(isAlive(lease.pid)).toBe(false);
    expect(await readLease(state)).toBeUndefined();
    expect((await looprailCli(['db', 'status', '--state-dir', state])).stdout).toBe(
      `no local database runs for ${state}\n`,
    );
  }, 300_000);
});
