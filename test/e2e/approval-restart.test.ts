import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startDevServer, type DevServer } from '../../cli/commands/dev.ts';
import { LooprailClient, resolveEndpoint } from '../../cli/client.ts';
import type { RunDetail } from '../../functions/http/api/runs.ts';
import { approvalOrg, linkIn, waitForMail } from '../support/approvals.ts';

/**
 * Durability on the local host: a run paused for a human survives a restart of the dev
 * server. The decision, made after the restart (by the mailed link or by the operator's
 * CLI), resumes the run in a new execution that continues it from DynamoDB; an approval
 * whose time ran out while the server was down stops its run `approval_expired`.
 */

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

function looprail(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['bin/looprail.js', ...args],
      { env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
}

async function until(client: LooprailClient, runId: string, done: (run: RunDetail) => boolean): Promise<RunDetail> {
  for (let i = 0; i < 600; i++) {
    const run = await client.getRun(runId);
    if (done(run)) return run;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`run ${runId} never got there: ${(await client.getRun(runId)).status}`);
}

describe('a pending approval across a restart of the dev server', () => {
  it('resumes the run when decided after the restart, by link or by the CLI, and expires what ran out of time', async () => {
    const org = await approvalOrg();
    const stateDir = await mkdtemp(join(tmpdir(), 'looprail-restart-'));
    temps.push(org, stateDir);
    const hostOptions = {
      dynamodbEndpoint: inject('dynamodbEndpoint'),
      tableName: `looprail-restart-${randomUUID()}`,
      retryIntervalMs: 0,
    };
    const lines: string[] = [];
    const output = { out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) };

    let dev: DevServer = await startDevServer({ port: '0', org, stateDir, graceMs: 50, host: hostOptions }, output);
    const port = new URL(dev.url).port;
    let client = new LooprailClient(await resolveEndpoint({ stateDir }));
    const byLink = (await client.startRun({ agent: 'approval' })).run.runId;
    const byCli = (await client.startRun({ agent: 'approval' })).run.runId;
    const expiring = (await client.startRun({ agent: 'approval-expires' })).run.runId;
    const paused = await Promise.all(
      [byLink, byCli, expiring].map((runId) => until(client, runId, (run) => run.status === 'paused')),
    );
    const mail = await waitForMail(join(stateDir, 'outbox'), (each) =>
      each.text.includes(paused[0]!.pendingApprovalId!),
    );
    const link = linkIn(mail);
    const pending = (await client.listApprovals()).approvals.find((approval) => approval.runId === expiring);
    await dev.close();

    // Down: the expiring approval's time passes with no execution to time it out.
    const expiresAt = pending ? Date.parse(pending.expiresAt) : Date.now();
    while (Date.now() <= expiresAt + 200) await new Promise((resolve) => setTimeout(resolve, 100));

    dev = await startDevServer({ port, org, stateDir, graceMs: 50, host: hostOptions }, output);
    try {
      client = new LooprailClient(await resolveEndpoint({ stateDir }));
      expect(dev.resumed).toEqual([]);
      // Closed by the restarted server's sweep (or, when the first server was slow to close, by its own timer).
      expect((await client.getRun(expiring)).stopReason).toBe('approval_expired');
      expect((await client.getRun(byLink)).status).toBe('paused');

      // The CLI lists what waits, and the operator rejects one.
      const listed = await looprail('approvals', '--state-dir', stateDir);
      expect(listed).toContain(paused[0]!.pendingApprovalId!);
      expect(listed).toContain(paused[1]!.pendingApprovalId!);
      expect(listed).not.toContain(paused[2]!.pendingApprovalId!);
      const rejected = await looprail(
        'reject',
        paused[1]!.pendingApprovalId!,
        '--comment',
        'not after a restart',
        '--state-dir',
        stateDir,
      );
      expect(rejected).toMatch(
        new RegExp(
          `^${paused[1]!.pendingApprovalId!}: rejected by local:\\S+ \\("not after a restart"\\); the agent is told and may go on`,
        ),
      );

      // The mailed link still works after the restart (same key, same port): page, then the decision.
      expect((await fetch(link)).status).toBe(200);
      const html = await (await fetch(link)).text();
      const formToken = /name="form_token" value="([^"]+)"/.exec(html)![1]!;
      const decided = await fetch(link, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ form_token: formToken, decision: 'approve' }).toString(),
      });
      expect(decided.status).toBe(200);

      const approved = await until(client, byLink, (run) => run.status === 'finished');
      expect(approved).toMatchObject({ stopReason: 'completed', toolCalls: 1 });
      const trace = await client.getTrace(byLink);
      expect(trace.events.map((event) => event.kind)).toEqual([
        'run_started',
        'model_call',
        'approval_requested',
        'approval_decided',
        'tool_call',
        'model_call',
        'run_finished',
      ]);
      const afterReject = await until(client, byCli, (run) => run.status === 'finished');
      expect(afterReject).toMatchObject({ stopReason: 'completed', toolCalls: 0 });
      expect(JSON.stringify((await client.getTrace(byCli)).events)).toContain('rejected by local:');
      await expect(looprail('approve', paused[1]!.pendingApprovalId!, '--state-dir', stateDir)).rejects.toThrow(
        /already rejected/,
      );
    } finally {
      await dev.close();
    }
  }, 240_000);
});
