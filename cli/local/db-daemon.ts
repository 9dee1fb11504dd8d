import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import { LEASE_FILE, leaseAge, liveHolders, processStart, readLease, writeLease } from './shared-db.ts';

/**
 * The background process behind a state folder's shared database (cli/local/shared-db.ts):
 * `node db-daemon.ts <state dir> <db path> <idle ms>`, started detached by the first
 * command that needs the database. It runs DynamoDB Local as its child, records it in the
 * lease, and stops it and exits once no command has held it for the idle time; also on
 * SIGTERM, SIGINT or SIGHUP, and when the lease is removed or taken over (the state folder
 * was deleted, say).
 */

const CHECK_EVERY_MS = 1_000;

async function main(): Promise<void> {
  const [stateDir, dbPath, idleText] = process.argv.slice(2);
  const idleMs = Number(idleText);
  if (!stateDir || !dbPath || !Number.isFinite(idleMs))
    throw new Error('usage: db-daemon.ts <state dir> <db path> <idle ms>');
  const db = await startDynamoDbLocal({ dbPath });
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    if ((await readLease(stateDir))?.pid === process.pid) await rm(join(stateDir, LEASE_FILE), { force: true });
    await db.stop();
    console.log(`${new Date().toISOString()} stopped: ${why}`);
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));
  await writeLease(stateDir, {
    endpoint: db.endpoint,
    pid: process.pid,
    javaPid: db.pid,
    javaStart: processStart(db.pid),
    dbPath,
    kind: 'background',
  });
  console.log(
    `${new Date().toISOString()} DynamoDB Local on ${db.endpoint} (pid ${db.pid}), idle stop after ${idleMs} ms`,
  );

  let lastBusy = Date.now();
  timer = setInterval(
    () => {
      void (async () => {
        const lease = await readLease(stateDir);
        if (lease?.pid !== process.pid) return stop('the lease was removed or taken over');
        if ((await liveHolders(stateDir)) > 0) lastBusy = Date.now();
        const sinceUse = Math.min(Date.now() - lastBusy, (await leaseAge(stateDir)) ?? 0);
        if (sinceUse >= idleMs) await stop(`idle for ${Math.round(sinceUse / 1000)} s`);
      })().catch((error: Error) => stop(`check failed: ${error.message}`));
    },
    Math.min(CHECK_EVERY_MS, Math.max(100, idleMs / 4)),
  );
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
