import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isAlive, readLease } from '../cli/local/shared-db.ts';

/**
 * How long `looprail runs`, `trace <id>` and `costs` take from a shell, on a state folder
 * holding one scripted run: as before the shared database (the whole CLI loaded, a database
 * started and stopped per command), the first read (starts the background database), and
 * the reads after it (reuse it: the common case, and the target of under 1.5 s).
 */

const exec = promisify(execFile);
const REPEATS = 5;
type Timed = { p50_ms: number; min_ms: number };

async function timed(args: string[], env: NodeJS.ProcessEnv, entry = 'bin/looprail.js'): Promise<number> {
  const start = performance.now();
  await exec(process.execPath, [entry, ...args], { env: { ...process.env, ...env } });
  return performance.now() - start;
}

function summary(times: number[]): Timed {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50_ms: Math.round(sorted[Math.floor(sorted.length / 2)]!), min_ms: Math.round(sorted[0]!) };
}

export async function cliReads() {
  const state = await mkdtemp(join(tmpdir(), 'looprail-bench-reads-'));
  const own = { LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '0' };
  const shared = { LOOPRAIL_LOCAL_DB_IDLE_MINUTES: '2' };
  try {
    const ran = await exec(
      process.execPath,
      [
        'bin/looprail.js',
        'run',
        'morning-triage-loop',
        '--org',
        'test/fixtures/brief-org',
        '--state-dir',
        state,
        '--json',
      ],
      { env: { ...process.env, ...own } },
    );
    const { runId } = JSON.parse(ran.stdout) as { runId: string };
    const commands: Record<string, string[]> = {
      runs: ['runs', '--state-dir', state],
      trace: ['trace', runId, '--state-dir', state],
      costs: ['costs', '--state-dir', state],
    };
    const rows: Record<string, { before: Timed; first_read_ms: number; next_reads: Timed }> = {};
    for (const [name, args] of Object.entries(commands)) {
      const before: number[] = [];
      for (let i = 0; i < 3; i++) before.push(await timed(args, own, 'cli/main.ts'));
      const first = await timed(args, shared);
      const next: number[] = [];
      for (let i = 0; i < REPEATS; i++) next.push(await timed(args, shared));
      await stopBackground(state);
      rows[name] = { before: summary(before), first_read_ms: Math.round(first), next_reads: summary(next) };
    }
    return { repeats: REPEATS, commands: rows };
  } finally {
    await stopBackground(state);
    await rm(state, { recursive: true, force: true });
  }
}

/** The bench leaves nothing running: the background process stops its JVM on SIGTERM. */
async function stopBackground(state: string): Promise<void> {
  const lease = await readLease(state);
  if (!lease) return;
  if (isAlive(lease.pid)) process.kill(lease.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while ((isAlive(lease.pid) || isAlive(lease.javaPid)) && Date.now() < deadline) await sleep(100);
}

export function cliReadsMarkdown(figures: Awaited<ReturnType<typeof cliReads>>): string {
  const rows = Object.entries(figures.commands).map(
    ([name, row]) =>
      `| \`${name}\` | ${row.before.p50_ms} ms | ${row.first_read_ms} ms | ${row.next_reads.p50_ms} ms (min ${row.next_reads.min_ms} ms) |`,
  );
  return `
## Local read commands

\`looprail runs\`, \`trace <id>\` and \`costs\` from a shell, on a state folder with one scripted run, without \`looprail dev\`. Before: the whole CLI loaded and a DynamoDB Local started and stopped per command (as with \`LOOPRAIL_LOCAL_DB_IDLE_MINUTES=0\`). First read: starts the shared background database. Next reads: reuse it (median of ${figures.repeats}); target under 1.5 s.

| command | before | first read | next reads |
|---|---|---|---|
${rows.join('\n')}
`;
}
