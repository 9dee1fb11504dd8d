import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ConfigurationError } from '../../core/errors.ts';
import { startDynamoDbLocal, waitForDynamoDb } from './dynamodb-local.ts';

/**
 * One DynamoDB Local per state folder, shared by every command that opens it, so a JVM
 * start (5–8 s) is paid once rather than by every `runs`, `trace` or `costs`, and the
 * database on disk has exactly one server writing it (no stale reads, no two JVMs over
 * one file).
 *
 * Whoever runs the database records it in `<state>/dynamodb.json` (the lease: endpoint and
 * pids); a command finds it there, checks it answers, and uses it. When none runs:
 * - by default a small background process (cli/local/db-daemon.ts) starts it and keeps it
 *   up while commands use it and for LOOPRAIL_LOCAL_DB_IDLE_MINUTES (default 5) after the
 *   last one, then stops it and exits. Commands in progress hold it (a file per holder
 *   under `<state>/dynamodb.holders/`), so it never stops under a long `run` or `dev`;
 * - with LOOPRAIL_LOCAL_DB_IDLE_MINUTES=0 (the default under CI and the tests) each command
 *   starts its own database and stops it when done, as a child that ends with it; short
 *   commands still reuse one that runs.
 */

export const LEASE_FILE = 'dynamodb.json';
export const HOLDERS_DIR = 'dynamodb.holders';
export const DAEMON_LOG = 'dynamodb.log';
const LOCK_FILE = 'dynamodb.lock';
export const IDLE_VARIABLE = 'LOOPRAIL_LOCAL_DB_IDLE_MINUTES';
const DEFAULT_IDLE_MINUTES = 5;
/** A running database answers a ListTables in milliseconds; one that does not within this is not used. */
const PROBE_TIMEOUT_MS = 1_500;
/** How long a running database whose owner lives may take to answer (a machine under load) before we give up on it. */
const SLOW_ANSWER_MS = 30_000;
const START_TIMEOUT_MS = 60_000;
const DAEMON_ENTRY = fileURLToPath(new URL('./db-daemon.ts', import.meta.url));

export interface Lease {
  endpoint: string;
  /** The process that runs the database (the background process, or a command that started its own). */
  pid: number;
  javaPid: number;
  /** When the JVM started (Linux: /proc start ticks), so a recycled pid is never mistaken for it. */
  javaStart?: string;
  dbPath: string;
  /** 'background': the idle-stopping process; 'command': a command's own database, gone when it ends. */
  kind: 'background' | 'command';
}

export interface SharedDb {
  endpoint: string;
  /** How it was obtained: reused a running one, or started (and how). */
  origin: 'reused' | 'started-background' | 'started-here';
  /** Lets go of it: stops a database this command started for itself; otherwise leaves it to its owner. */
  release(): Promise<void>;
}

export interface SharedDbOptions {
  stateDir: string;
  dbPath: string;
  /** A command that stays a long time (`run`, `dev`): reuses only a background database, which cannot stop under it. */
  longLived?: boolean;
  /** Minutes a background database stays up after its last use; 0: none (default from the environment). */
  idleMinutes?: number;
  /** Told once a database has to be started (not when one is reused); the function it returns is called when it answers. */
  onStarting?: () => (() => void) | undefined;
}

/** LOOPRAIL_LOCAL_DB_IDLE_MINUTES, else 0 under CI or the tests (nothing left running), else 5. */
export function idleMinutesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[IDLE_VARIABLE];
  if (text === undefined || text === '') return env.CI || env.VITEST ? 0 : DEFAULT_IDLE_MINUTES;
  const minutes = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(minutes))
    throw new ConfigurationError(
      `${IDLE_VARIABLE} must be a number of minutes (0: no background database), not "${text}"`,
    );
  return minutes;
}

export async function openSharedDb(options: SharedDbOptions): Promise<SharedDb> {
  const idleMinutes = options.idleMinutes ?? idleMinutesFromEnv();
  await mkdir(options.stateDir, { recursive: true });
  const reused = await reuse(options);
  if (reused) return reused;
  if (idleMinutes <= 0) return startHere(options);
  return withStartLock(options.stateDir, async () => {
    // Another command may have started it while we waited for the lock.
    const started = (await reuse(options)) ?? (await startBackground(options, idleMinutes));
    return started;
  });
}

/** The running database named by the lease, when it answers (and, for a long-lived command, is a background one). */
async function reuse(options: SharedDbOptions): Promise<SharedDb | undefined> {
  const lease = await readLease(options.stateDir);
  if (!lease || lease.dbPath !== options.dbPath || !isAlive(lease.pid)) return undefined;
  if (options.longLived && lease.kind !== 'background') return undefined;
  const holder = await hold(options.stateDir);
  try {
    await waitForDynamoDb(lease.endpoint, PROBE_TIMEOUT_MS);
  } catch {
    // Its owner still runs: slow (a busy machine), not gone. Never a second server over the same files.
    const answered =
      isAlive(lease.pid) &&
      (await waitForDynamoDb(lease.endpoint, SLOW_ANSWER_MS).then(
        () => true,
        () => false,
      ));
    if (!answered) {
      await holder.drop();
      if (!isAlive(lease.pid)) return undefined;
      throw new Error(
        `the local database of ${options.stateDir} (process ${lease.pid}) does not answer on ${lease.endpoint}; stop it with \`looprail db stop\` and try again`,
      );
    }
  }
  return {
    endpoint: lease.endpoint,
    origin: 'reused',
    release: async () => {
      await holder.drop();
      await touch(join(options.stateDir, LEASE_FILE));
    },
  };
}

/** A database of this command's own, stopped with it; recorded so that short commands meanwhile reuse it. */
async function startHere(options: SharedDbOptions): Promise<SharedDb> {
  const started = options.onStarting?.();
  const db = await startDynamoDbLocal({ dbPath: options.dbPath }).finally(() => started?.());
  const leaseFile = join(options.stateDir, LEASE_FILE);
  const current = await readLease(options.stateDir);
  // A long-lived command beside a running database of another command's: that one keeps the lease.
  const recorded = !(current && isAlive(current.pid));
  if (recorded) {
    await writeLease(options.stateDir, {
      endpoint: db.endpoint,
      pid: process.pid,
      javaPid: db.pid,
      javaStart: processStart(db.pid),
      dbPath: options.dbPath,
      kind: 'command',
    });
  }
  const forget = () => {
    if (recorded && readLeaseSync(leaseFile)?.pid === process.pid) rmSync(leaseFile, { force: true });
  };
  process.on('exit', forget);
  return {
    endpoint: db.endpoint,
    origin: 'started-here',
    release: async () => {
      process.off('exit', forget);
      forget();
      await db.stop();
    },
  };
}

async function startBackground(options: SharedDbOptions, idleMinutes: number): Promise<SharedDb> {
  await stopOrphan(options.stateDir);
  const started = options.onStarting?.();
  try {
    return await launchBackground(options, idleMinutes);
  } finally {
    started?.();
  }
}

async function launchBackground(options: SharedDbOptions, idleMinutes: number): Promise<SharedDb> {
  const log = openSync(join(options.stateDir, DAEMON_LOG), 'w', 0o600);
  const child = spawn(
    process.execPath,
    [DAEMON_ENTRY, options.stateDir, options.dbPath, String(Math.round(idleMinutes * 60_000))],
    { detached: true, stdio: ['ignore', log, log], env: process.env },
  );
  closeSync(log);
  child.unref();
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && !exited) {
    const lease = await readLease(options.stateDir);
    if (lease && lease.pid === child.pid && lease.kind === 'background') {
      const reused = await reuse(options);
      if (reused) return { ...reused, origin: 'started-background' };
    }
    await sleep(50);
  }
  if (!exited) child.kill('SIGTERM');
  const tail = await readFile(join(options.stateDir, DAEMON_LOG), 'utf8').catch(() => '');
  throw new Error(
    `the local database did not start (${exited ? 'its background process exited' : `no answer within ${START_TIMEOUT_MS / 1000} s`}). Its output:\n${tail.trim() || '(none)'}`,
  );
}

/** A JVM whose background process was killed outright (kill -9) and could not stop it. */
async function stopOrphan(stateDir: string): Promise<void> {
  const lease = await readLease(stateDir);
  if (!lease || isAlive(lease.pid)) return;
  const start = lease.javaStart;
  if (start !== undefined && isAlive(lease.javaPid) && processStart(lease.javaPid) === start) {
    process.kill(lease.javaPid, 'SIGKILL');
  }
  await rm(join(stateDir, LEASE_FILE), { force: true });
}

/** Two commands starting at once start one database: the second waits on the first's lock. */
async function withStartLock<T>(stateDir: string, fn: () => Promise<T>): Promise<T> {
  const lockFile = join(stateDir, LOCK_FILE);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(lockFile, 'utf8').catch(() => ''));
      if (!holder || !isAlive(holder)) await rm(lockFile, { force: true });
      else if (Date.now() > deadline) throw new Error(`${lockFile} is held by process ${holder}; is it stuck?`);
      else await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}

/** Registers this command as using the database (the background process does not stop while any holder lives). */
async function hold(stateDir: string): Promise<{ drop(): Promise<void> }> {
  const dir = join(stateDir, HOLDERS_DIR);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeFile(file, '');
  const dropSync = () => rmSync(file, { force: true });
  process.on('exit', dropSync);
  return {
    drop: async () => {
      process.off('exit', dropSync);
      await rm(file, { force: true });
    },
  };
}

/** Holder files whose process still runs (the others are removed: their command ended without letting go). */
export async function liveHolders(stateDir: string): Promise<number> {
  const dir = join(stateDir, HOLDERS_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  let live = 0;
  for (const name of names) {
    if (isAlive(Number(name.split('-')[0]))) live++;
    else await rm(join(dir, name), { force: true });
  }
  return live;
}

export async function readLease(stateDir: string): Promise<Lease | undefined> {
  return parseLease(await readFile(join(stateDir, LEASE_FILE), 'utf8').catch(() => undefined));
}

function readLeaseSync(file: string): Lease | undefined {
  try {
    return parseLease(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function parseLease(text: string | undefined): Lease | undefined {
  if (text === undefined) return undefined;
  try {
    const lease = JSON.parse(text) as Partial<Lease>;
    const valid =
      typeof lease.endpoint === 'string' &&
      Number.isInteger(lease.pid) &&
      Number.isInteger(lease.javaPid) &&
      typeof lease.dbPath === 'string' &&
      (lease.kind === 'background' || lease.kind === 'command');
    return valid ? (lease as Lease) : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole or not at all (a reader never sees half a lease). */
export async function writeLease(stateDir: string, lease: Lease): Promise<void> {
  const file = join(stateDir, LEASE_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(lease, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}

export async function leaseAge(stateDir: string): Promise<number | undefined> {
  const info = await stat(join(stateDir, LEASE_FILE)).catch(() => undefined);
  return info ? Date.now() - info.mtimeMs : undefined;
}

async function touch(file: string): Promise<void> {
  const now = new Date();
  await utimes(file, now, now).catch(() => undefined);
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process's start time in clock ticks since boot (Linux); undefined elsewhere. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
