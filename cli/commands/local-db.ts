import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command, Option } from 'commander';
import { IDLE_VARIABLE, isAlive, leaseAge, readLease } from '../local/shared-db.ts';

/**
 * `looprail db status|stop`: the state folder's shared DynamoDB Local (cli/local/shared-db.ts),
 * which a background process keeps up for a few idle minutes after the last command.
 */

const STOP_WAIT_MS = 30_000;

export function registerLocalDbCommand(program: Command, stateDirOption: Option): void {
  const db = program
    .command('db')
    .description(`the local database shared by the commands (stops by itself after ${IDLE_VARIABLE}, default 5)`);
  db.command('status')
    .description('whether it runs, where, and since when it is idle')
    .addOption(stateDirOption)
    .action(async (options: { stateDir: string }) => {
      const stateDir = resolve(options.stateDir);
      const lease = await readLease(stateDir);
      if (!lease || !isAlive(lease.pid)) return void console.log(`no local database runs for ${options.stateDir}`);
      const idle = Math.round(((await leaseAge(stateDir)) ?? 0) / 1000);
      const owner = lease.kind === 'background' ? 'the background process' : 'a command';
      console.log(`${lease.endpoint}: run by ${owner} ${lease.pid} (Java ${lease.javaPid}), last used ${idle} s ago`);
    });
  db.command('stop')
    .description('stop the background database now (commands in progress lose it)')
    .addOption(stateDirOption)
    .action(async (options: { stateDir: string }) => {
      const stopped = await stopBackgroundDb(resolve(options.stateDir));
      if (stopped.kind === 'none') return void console.log(`no local database runs for ${options.stateDir}`);
      if (stopped.kind === 'stopped') return void console.log(`stopped the local database of ${options.stateDir}`);
      console.error(
        stopped.kind === 'command'
          ? `looprail: the local database belongs to the command ${stopped.pid}; it stops when that ends`
          : `looprail: the background database (process ${stopped.pid}) did not stop within 30 s`,
      );
      process.exitCode = 1;
    });
}

/** How `stopBackgroundDb` left things: nothing ran, stopped, or still running (a command's own, or one that would not stop). */
export type DbStop = { kind: 'none' } | { kind: 'stopped' } | { kind: 'command' | 'timeout'; pid: number };

/** Stops the state folder's background database and waits for it and its JVM to be gone; a command's own database is left alone. */
export async function stopBackgroundDb(stateDir: string): Promise<DbStop> {
  const lease = await readLease(stateDir);
  if (!lease || !isAlive(lease.pid)) return { kind: 'none' };
  if (lease.kind !== 'background') return { kind: 'command', pid: lease.pid };
  process.kill(lease.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_WAIT_MS;
  while ((isAlive(lease.pid) || isAlive(lease.javaPid)) && Date.now() < deadline) await sleep(100);
  return isAlive(lease.pid) || isAlive(lease.javaPid) ? { kind: 'timeout', pid: lease.pid } : { kind: 'stopped' };
}
