import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LocalHttpServer } from '../../cli/http-server.ts';
import { sweepApprovalReminders } from '../../cli/local/approval-expiry.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import { sendDueApprovalReminders } from '../../core/approvals/reminders.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { createApi } from '../../functions/http/api/index.ts';
import { testHost } from '../support/local-host.ts';
import { approvalOrg, linkIn, readOutbox, runUntilPaused, waitForMail, type OutboxMail } from '../support/approvals.ts';

/**
 * Reminders before expiry and escalation to a fallback group (the rule's remind_before,
 * escalate_after, escalate_to) on the local host: the clock is moved, not waited for.
 */

let org: string;
let host: LocalHost & { stateDir: string };
let server: LocalHttpServer;
const token = ['test', 'bearer', 'token'].join('-');
const RULE =
  '{ approvers: [lead@example.com], timeout: 8h, remind_before: 1h, escalate_after: 4h, escalate_to: [ops@example.com] }';

beforeAll(async () => {
  org = await approvalOrg();
  const agent = [
    'agent:',
    '  name: approval-remind',
    '  owner: tests@example.com',
    '  team: tests',
    '  model: s-approval',
    '  instructions: ./instructions.md@v1',
    '  mcp_servers:',
    '    - name: notes',
    '      deny: [delete_entities]',
    '    - everything',
    '  approvals:',
    `    notes.create_entities: ${RULE}`,
    '',
  ];
  await writeFile(join(org, 'approval-remind.yaml'), agent.join('\n'));
  host = await testHost(org);
  const api = createApi({ ...host.deps, executions: host.executions, secrets: host.secrets });
  server = await startHttpServer({ app: api.handle, token, user: 'tester' });
  host.setPublicUrl(server.url);
});

afterAll(async () => {
  await server?.close();
  await host?.close();
  if (org) await rm(org, { recursive: true, force: true });
});

const outbox = () => join(host.stateDir, 'outbox');
const at = (iso: string, plusMs = 0): RunDeps => ({
  ...host.deps,
  clock: { now: () => new Date(Date.parse(iso) + plusMs) },
});
const mailsOf = async (approvalId: string, prefix: string): Promise<OutboxMail[]> =>
  (await readOutbox(outbox())).filter((mail) => mail.text.includes(approvalId) && mail.subject.startsWith(prefix));

/** The confirmation page's form, then the one POST that decides. */
async function approveThrough(link: string): Promise<Response> {
  const html = await (await fetch(link)).text();
  const formToken = /name="form_token" value="([^"]+)"/.exec(html)?.[1];
  if (!formToken) throw new Error(`no form on the page: ${html.slice(0, 300)}`);
  return fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ form_token: formToken, decision: 'approve' }).toString(),
  });
}

describe('approval reminders and escalation', () => {
  it('escalates once and reminds once, even with sweepers racing, and the escalated approver can approve', async () => {
    const { running, paused } = await runUntilPaused(host, 'approval-remind');
    const approvalId = paused.pendingApprovalId!;
    await waitForMail(
      outbox(),
      (mail) => mail.text.includes(approvalId) && mail.subject.startsWith('[looprail] approve'),
    );
    const record = (await host.deps.store.getApproval(approvalId))!;
    expect(Date.parse(record.expiresAt) - Date.parse(record.createdAt)).toBe(8 * 3_600_000);
    expect(record).toMatchObject({ approvers: ['lead@example.com'], escalateTo: ['ops@example.com'] });
    expect(Date.parse(record.remindAt!)).toBe(Date.parse(record.expiresAt) - 3_600_000);
    expect(Date.parse(record.escalateAt!)).toBe(Date.parse(record.createdAt) + 4 * 3_600_000);

    // Before either is due: nothing.
    expect(
      await sendDueApprovalReminders(at(record.escalateAt!, -1000), new Date(Date.parse(record.escalateAt!) - 1000)),
    ).toEqual([]);

    // Escalation: two sweepers at once, one escalation between them.
    const escalation = at(record.escalateAt!, 1000);
    const raced = (
      await Promise.all([
        sendDueApprovalReminders(escalation, escalation.clock.now()),
        sendDueApprovalReminders(escalation, escalation.clock.now()),
      ])
    ).flat();
    expect(raced.map((done) => [done.kind, done.mailed])).toEqual([['escalation', ['ops@example.com']]]);
    const escalated = await mailsOf(approvalId, '[looprail] escalated:');
    expect(escalated.map((mail) => mail.to)).toEqual(['ops@example.com']);
    expect(escalated[0]!.text).toContain('Escalated to you');
    const opsLink = linkIn(escalated[0]!);
    expect(new URL(opsLink).searchParams.get('r')).toBe('ops@example.com');
    expect((await fetch(opsLink)).status).toBe(200);
    const afterEscalation = (await host.deps.store.getApproval(approvalId))!;
    expect(afterEscalation.approvers).toEqual(['lead@example.com', 'ops@example.com']);
    expect(afterEscalation.escalatedAt).toBe(escalation.clock.now().toISOString());
    expect(afterEscalation.reminderSentAt).toBeUndefined();
    expect(await sendDueApprovalReminders(escalation, escalation.clock.now())).toEqual([]);

    // Reminder: to every approver (the escalated group included), once.
    const reminder = at(record.remindAt!, 1000);
    const reminded = (
      await Promise.all([
        sendDueApprovalReminders(reminder, reminder.clock.now()),
        sendDueApprovalReminders(reminder, reminder.clock.now()),
      ])
    ).flat();
    expect(reminded.map((done) => [done.kind, done.mailed])).toEqual([
      ['reminder', ['lead@example.com', 'ops@example.com']],
    ]);
    expect(await sendDueApprovalReminders(reminder, reminder.clock.now())).toEqual([]);
    const reminders = await mailsOf(approvalId, '[looprail] reminder:');
    expect(reminders.map((mail) => mail.to).sort()).toEqual(['lead@example.com', 'ops@example.com']);
    for (const mail of reminders) {
      const link = linkIn(mail);
      expect(new URL(link).searchParams.get('r')).toBe(mail.to);
      expect((await fetch(link)).status).toBe(200);
    }
    expect((await mailsOf(approvalId, '[looprail] escalated:')).length).toBe(1);
    expect((await host.deps.store.getApproval(approvalId))!.reminderSentAt).toBe(reminder.clock.now().toISOString());
    expect((await host.deps.store.getRun(paused.runId))!.status).toBe('paused');

    // The escalated approver decides through their own link.
    const decided = await approveThrough(opsLink);
    expect(decided.status).toBe(200);
    expect(await decided.text()).toContain('Approved by ops@example.com');
    const { meta } = await running;
    expect(meta.stopReason).toBe('completed');
    expect((await host.deps.store.getApproval(approvalId))!.decision).toMatchObject({
      outcome: 'approved',
      by: 'ops@example.com',
      via: 'link mailed to ops@example.com',
    });
    // Decided: nothing is due any more, whatever the time.
    expect(await sendDueApprovalReminders(reminder, reminder.clock.now())).toEqual([]);
  });

  it("the dev server's periodic sweep sends what is due", async () => {
    const { running, paused } = await runUntilPaused(host, 'approval-remind');
    running.catch(() => undefined);
    const approvalId = paused.pendingApprovalId!;
    const record = (await host.deps.store.getApproval(approvalId))!;
    const sweep = sweepApprovalReminders(at(record.remindAt!, 1000), { everyMs: 20 });
    try {
      // The reminder goes to every approver by then (ops too, once escalated): wait for the lead's, whichever is written first.
      const mail = await waitForMail(
        outbox(),
        (each) =>
          each.text.includes(approvalId) &&
          each.subject.startsWith('[looprail] reminder:') &&
          each.to === 'lead@example.com',
      );
      expect(mail.to).toBe('lead@example.com');
      expect(new URL(linkIn(mail)).searchParams.get('r')).toBe('lead@example.com');
    } finally {
      sweep.stop();
    }
    // Both were due by then (escalation first, so the reminder reached ops too); each once.
    const done = (await host.deps.store.getApproval(approvalId))!;
    expect(done.escalatedAt).toBeDefined();
    expect(done.reminderSentAt).toBeDefined();
    await host.executions.stop(paused.runId, 'test over');
  });
});
