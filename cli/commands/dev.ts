import { parsePort, watchStop } from '../process.ts';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { createApi } from '../../functions/http/api/index.ts';
import { LocalScheduler } from '../local/scheduler.ts';
import { sweepApprovalReminders, watchPausedApprovals } from '../local/approval-expiry.ts';
import { scheduleHandler } from '../../functions/trigger/schedule.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { startHttpServer } from '../http-server.ts';
import { startLocalHost, type LocalHostOptions } from '../local/host.ts';
import { DEV_FILE } from '../client.ts';
import { startingLine } from '../output/progress.ts';

/**
 * `looprail dev`: the local host, its execution starter and the one HTTP app on
 * 127.0.0.1. The token is random per start; it and the URL are written to
 * `<state-dir>/dev.json` (readable by the user only) so `looprail start` and friends find
 * the server. Ctrl-C stops accepting requests, gives running steps a moment to finish and
 * closes; a run that did not finish resumes at the next start (its committed steps replay).
 */

export interface DevOptions {
  port: string;
  org: string;
  stateDir: string;
  /** How long in-flight executions get to finish on shutdown. */
  graceMs?: number;
  /** Passed to the local host (tests point it at their DynamoDB Local). */
  host?: Partial<LocalHostOptions>;
}

export interface DevServer {
  url: string;
  token: string;
  /** Runs found unfinished at start and resumed. */
  resumed: string[];
  close(): Promise<void>;
}

interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleOutput: Output = { out: (line) => console.log(line), err: (line) => console.error(line) };
const DEFAULT_GRACE_MS = 5_000;
const MAX_RESUMED = 100;

export async function startDevServer(options: DevOptions, output: Output = consoleOutput): Promise<DevServer> {
  const port = parsePort(options.port);
  const stateDir = resolve(options.stateDir);
  const host = await startLocalHost({
    orgDir: options.org,
    stateDir,
    log: jsonLogger('warn', output.err),
    onStarting: startingLine({}),
    ...options.host,
  });
  const token = randomBytes(32).toString('base64url');
  const devFile = join(stateDir, DEV_FILE);
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    const api = createApi({ ...host.deps, executions: host.executions, secrets: host.secrets });
    // Its log lines quote errors: redacted like everything else the host writes.
    const log = (line: string) => output.err(host.deps.knownSecrets?.redact(line) ?? line);
    server = await startHttpServer({ app: api.handle, token, user: userInfo().username, port, log });
    // Approval mails link to this server's pages (use a fixed --port so links survive a restart).
    host.setPublicUrl(server.url);
    await writeFile(devFile, `${JSON.stringify({ url: server.url, token, pid: process.pid }, null, 2)}\n`, {
      mode: 0o600,
    });
  } catch (error) {
    await host.close();
    throw error;
  }

  // Runs a previous server left unfinished carry on; paused ones wait for their approver as before.
  const resumed: string[] = [];
  for (const status of ['running', 'queued'] as const) {
    for (const run of await host.deps.store.listRuns({ status, role: 'maker', limit: MAX_RESUMED })) {
      // Past its first step, a run goes on from its last committed step (StartRun hands back the
      // stored control); started afresh, it would look like a second execution driving it.
      if (run.seq > 0) await host.executions.resume(run.runId, run.seq);
      else await host.executions.start(run.runId);
      resumed.push(run.runId);
    }
  }

  // Paused runs wait for their approver; their approvals still expire on time (no execution holds their timers now).
  const approvalWatch = watchPausedApprovals(host.deps);
  const expired = await approvalWatch.started;
  if (expired.length > 0)
    output.err(`approvals expired while the server was down: ${expired.join(', ')} stopped approval_expired`);
  // Reminders before expiry and escalations (agent approval rules), swept every minute.
  const reminderSweep = sweepApprovalReminders(host.deps);

  // Schedules run here as Scheduler runs them on AWS: the same expressions, time zones and dedupe keys.
  const triggerDeps = { ...host.deps, executions: host.executions };
  const scheduler = new LocalScheduler({
    catalog: host.catalog,
    fire: async (agent, scheduledTime) => {
      const started = await scheduleHandler(() => triggerDeps)({ agent, scheduledTime });
      output.out(
        started.started
          ? `schedule: started ${agent} (${scheduledTime}) as run ${started.runId}`
          : `schedule: ${agent} (${scheduledTime}) not started: ${started.reason}`,
      );
    },
    log: host.deps.log,
  });
  for (const schedule of scheduler.list())
    output.out(
      `schedule: ${schedule.agent} ${schedule.expression} ${schedule.timezone}, next ${schedule.next ?? 'never'}`,
    );

  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    token,
    resumed,
    close: () =>
      (closing ??= (async () => {
        try {
          scheduler.stop();
          approvalWatch.stop();
          reminderSweep.stop();
          await server.close();
          const { aborted } = await host.executions.close({ graceMs: options.graceMs ?? DEFAULT_GRACE_MS });
          if (aborted.length > 0) output.err(`not finished, resumes at the next start: ${aborted.join(', ')}`);
        } finally {
          await host.close();
          await rm(devFile, { force: true });
        }
      })()),
  };
}

export async function devCommand(options: DevOptions, output: Output = consoleOutput): Promise<void> {
  // Watched from the start: a SIGTERM while the database starts stops it too, instead of orphaning it.
  const stop = watchStop();
  const dev = await startDevServer(options, output);
  if (stop.fired()) {
    output.err(`${await stop.stopped}: stopping before the server was ready…`);
    await dev.close();
    return;
  }
  output.out(
    [
      `looprail dev: the API on ${dev.url} (OpenAPI: ${dev.url}/openapi.json)`,
      `token (random, changes on every start): ${dev.token}`,
      `console: ${dev.url}/console (sign in with the token)`,
      `written with the URL to ${join(options.stateDir, DEV_FILE)}, where \`looprail start <agent>\` finds it`,
      dev.resumed.length > 0 ? `resumed ${dev.resumed.length} unfinished run(s): ${dev.resumed.join(', ')}` : '',
      '',
      `curl -H "Authorization: Bearer ${dev.token}" ${dev.url}/v1/runs`,
      'Ctrl-C stops the server.',
    ]
      .filter((line, i, lines) => line !== '' || lines[i - 1] !== '')
      .join('\n'),
  );
  const signal = await stop.stopped;
  output.err(`\n${signal}: stopping; running steps get a moment to finish…`);
  await dev.close();
  output.err('looprail dev stopped');
}
