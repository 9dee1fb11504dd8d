import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GetCommand, PutCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LocalHttpServer } from '../../cli/http-server.ts';
import { approvalLink, expirySeconds } from '../../core/approvals/links.ts';
import { DEFAULT_SIGNING_SECRET } from '../../core/approvals/deps.ts';
import type { TaskTokenSender } from '../../core/ports/executions.ts';
import { messageKey } from '../../adapters/dynamodb/keys.ts';
import { createApi } from '../../functions/http/api/index.ts';
import { approvalApp } from '../../functions/approval/http.ts';
import { httpHandler } from '../../functions/http/api-gateway.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import { testHost } from '../support/local-host.ts';
import { watchPausedApprovals } from '../../cli/local/approval-expiry.ts';
import { approvalOrg, linkIn, readOutbox, runUntilPaused, waitForMail } from '../support/approvals.ts';
import { otherBase64urlSpellings } from '../support/spellings.ts';

/**
 * The approval flow on the local host, end to end over HTTP: the mailed, signed link, the
 * confirmation page that never decides, the one POST that does, every refusal as a clear
 * page that changes nothing, rejection either way, expiry, and the binding of the
 * approval to the exact call that runs.
 */

let org: string;
let host: LocalHost & { stateDir: string };
let server: LocalHttpServer;
const token = ['test', 'bearer', 'token'].join('-');
const logged: string[] = [];
const sends: string[] = [];

beforeAll(async () => {
  org = await approvalOrg();
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    logged.push(JSON.stringify({ level, message, ...fields }));
  host = await testHost(org, { log: { info: line('info'), warn: line('warn'), error: line('error') } });
  const api = createApi({ ...host.deps, executions: host.executions, secrets: host.secrets });
  server = await startHttpServer({ app: api.handle, token, user: 'tester' });
  host.setPublicUrl(server.url);
  // Count what reaches the waiting executions (SendTaskSuccess / SendTaskFailure).
  const real = host.deps.approvals!.tasks!;
  const counting: TaskTokenSender = {
    sendTaskSuccess: (t, output, resume) => {
      sends.push(`success ${resume.runId}`);
      return real.sendTaskSuccess(t, output, resume);
    },
    sendTaskFailure: (t, error, cause, resume) => {
      sends.push(`failure ${resume.runId}`);
      return real.sendTaskFailure(t, error, cause, resume);
    },
  };
  host.deps.approvals!.tasks = counting;
});

afterAll(async () => {
  await server?.close();
  await host?.close();
  if (org) await rm(org, { recursive: true, force: true });
});

const outbox = () => join(host.stateDir, 'outbox');

async function pausedWithMail(agent: string, recipient = 'lead@example.com') {
  const { running, paused } = await runUntilPaused(host, agent);
  const approvalId = paused.pendingApprovalId!;
  const mail = await waitForMail(
    outbox(),
    (each) => each.text.includes(approvalId) && each.to === recipient && each.subject.startsWith('[looprail] approve'),
  );
  return { running, paused, approvalId, mail, link: linkIn(mail) };
}

/** The form fields a browser would post from the confirmation page. */
async function formOf(link: string): Promise<{ form_token: string }> {
  const html = await (await fetch(link)).text();
  const formToken = /name="form_token" value="([^"]+)"/.exec(html)?.[1];
  if (!formToken) throw new Error(`no form on the page: ${html.slice(0, 300)}`);
  return { form_token: formToken };
}

function post(link: string, fields: Record<string, string>, type = 'application/x-www-form-urlencoded') {
  return fetch(link, {
    method: 'POST',
    headers: { 'content-type': type },
    body: new URLSearchParams(fields).toString(),
  });
}

async function signingKey(): Promise<string> {
  return host.deps.approvals!.secrets.get(DEFAULT_SIGNING_SECRET);
}

describe('the approval mail and page', () => {
  it('mails the approver a signed link with the details, shows a page that decides nothing, and approves once on POST', async () => {
    const { running, paused, approvalId, mail, link } = await pausedWithMail('approval');
    for (const part of [
      'Agent approval',
      paused.runId,
      'notes.create_entities',
      '"name": "approved-note"',
      'the agent\'s approval rule "notes.create_entities"',
      'Cost so far: $',
      `${server.url}/v1/runs/${paused.runId}/trace`,
    ])
      expect(mail.text).toContain(part);
    expect(mail.html).toContain('approved-note');
    expect(new URL(link).searchParams.get('r')).toBe('lead@example.com');

    // GETs (repeated), HEAD: the page, never a decision.
    for (let i = 0; i < 3; i++) {
      const page = await fetch(link);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      const html = await page.text();
      expect(html).toContain('approved-note');
      expect(html).not.toMatch(/<script/i);
    }
    const head = await fetch(link, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await host.deps.store.getApproval(approvalId))!.status).toBe('pending');
    expect((await host.deps.store.getRun(paused.runId))!.status).toBe('paused');

    const form = await formOf(link);
    const decided = await post(link, { ...form, decision: 'approve', comment: 'looks right' });
    expect(decided.status).toBe(200);
    expect(await decided.text()).toContain('Approved by lead@example.com');
    const { meta } = await running;
    expect(meta.stopReason).toBe('completed');
    const trace = await host.deps.store.listTrace(meta.runId);
    expect(trace.map((event) => event.kind)).toEqual([
      'run_started',
      'model_call',
      'approval_requested',
      'approval_decided',
      'tool_call',
      'model_call',
      'run_finished',
    ]);
    expect(trace.find((event) => event.kind === 'tool_call')!.status).toBe('ok');
    expect(trace.find((event) => event.kind === 'approval_decided')!.detail).toMatch(
      new RegExp(
        `^approval ${approvalId}: approved by lead@example.com at \\S+ \\(link mailed to lead@example.com\\): looks right$`,
      ),
    );
    expect((await host.deps.store.getApproval(approvalId))!.decision).toMatchObject({
      outcome: 'approved',
      by: 'lead@example.com',
      comment: 'looks right',
      via: 'link mailed to lead@example.com',
    });

    // Replayed POST, and a late GET: clear pages, nothing changes.
    const replay = await post(link, { ...form, decision: 'reject' });
    expect(replay.status).toBe(409);
    expect(await replay.text()).toContain('was already approved by lead@example.com');
    expect((await fetch(link)).status).toBe(409);
  });

  it('refuses tampered, incomplete, forged, unlisted and incomplete-form requests with clear pages, changing nothing', async () => {
    const { paused, approvalId, link } = await pausedWithMail('approval');
    const form = await formOf(link);
    const url = new URL(link);
    const tampered = new URL(link);
    tampered.searchParams.set('r', 'mallory@example.com');
    const page = async (response: Response) => ({
      status: response.status,
      type: response.headers.get('content-type'),
      text: await response.text(),
    });

    expect(await page(await fetch(tampered))).toMatchObject({
      status: 403,
      type: 'text/html; charset=utf-8',
      text: expect.stringContaining('signature does not match'),
    });
    expect(await page(await post(tampered.toString(), { ...form, decision: 'approve' }))).toMatchObject({
      status: 403,
    });
    expect(await page(await fetch(`${server.url}/approvals/${approvalId}`))).toMatchObject({
      status: 403,
      text: expect.stringContaining('incomplete'),
    });
    const otherId = new URL(link.replace(approvalId, `${approvalId}x`));
    expect((await fetch(otherId)).status).toBe(403);
    // A real signature for an id that does not exist: not found.
    const key = await signingKey();
    expect(
      (
        await fetch(
          approvalLink(server.url, key, {
            approvalId: 'r-nope-a1',
            recipient: 'lead@example.com',
            expires: expirySeconds(new Date(Date.now() + 3_600_000).toISOString()),
          }),
        )
      ).status,
    ).toBe(404);
    // Signed for someone who is not on the list.
    const record = (await host.deps.store.getApproval(approvalId))!;
    const stranger = approvalLink(server.url, key, {
      approvalId,
      recipient: 'stranger@example.com',
      expires: expirySeconds(record.expiresAt),
    });
    expect(await page(await fetch(stranger))).toMatchObject({
      status: 403,
      text: expect.stringContaining('stranger@example.com is not an approver'),
    });
    expect((await post(stranger, { form_token: (await formOf(link)).form_token, decision: 'approve' })).status).toBe(
      403,
    );
    // Without the anti-forgery field, with another link's, without a decision, not as a form.
    expect(await page(await post(link, { decision: 'approve' }))).toMatchObject({
      status: 403,
      text: expect.stringContaining('anti-forgery'),
    });
    expect((await post(link, { form_token: 'A'.repeat(43), decision: 'approve' })).status).toBe(403);
    expect(await page(await post(link, form))).toMatchObject({
      status: 400,
      text: expect.stringContaining('choose Approve or Reject'),
    });
    expect((await post(link, { ...form, decision: 'maybe' })).status).toBe(400);
    expect((await post(link, { ...form, decision: 'approve', comment: 'x'.repeat(2001) })).status).toBe(400);
    expect((await post(link, { ...form, decision: 'approve' }, 'application/json')).status).toBe(400);
    expect(url.searchParams.get('s')).toBeTruthy();

    expect((await host.deps.store.getApproval(approvalId))!).toMatchObject({ status: 'pending' });
    expect((await host.deps.store.getRun(paused.runId))!.status).toBe('paused');
    // Clean up: the operator rejects it.
    const rejected = await fetch(`${server.url}/v1/approvals/${approvalId}/decision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'reject', comment: 'test over' }),
    });
    expect(rejected.status).toBe(200);
  });

  it("refuses every other spelling of a link's signature and of its form token, as a tampered link, changing nothing", async () => {
    const { paused, approvalId, link } = await pausedWithMail('approval');
    const form = await formOf(link);
    const signature = new URL(link).searchParams.get('s')!;
    const spelled = (s: string) => {
      const url = new URL(link);
      url.searchParams.set('s', s);
      return url.toString();
    };
    const others = otherBase64urlSpellings(signature);
    expect(others.length).toBeGreaterThanOrEqual(4);
    for (const other of others) {
      const page = await fetch(spelled(other));
      expect(page.status, other).toBe(403);
      const text = await page.text();
      // The other last characters are well-formed base64url: refused exactly like a changed link.
      if (/^[A-Za-z0-9_-]{43}$/.test(other)) expect(text).toContain('signature does not match');
      expect((await post(spelled(other), { ...form, decision: 'approve' })).status, other).toBe(403);
    }
    for (const other of otherBase64urlSpellings(form.form_token)) {
      const refused = await post(link, { form_token: other, decision: 'approve' });
      expect(refused.status, other).toBe(403);
      expect(await refused.text()).toContain('anti-forgery');
    }
    expect((await host.deps.store.getApproval(approvalId))!).toMatchObject({ status: 'pending' });
    expect((await host.deps.store.getRun(paused.runId))!.status).toBe('paused');
    const rejected = await fetch(`${server.url}/v1/approvals/${approvalId}/decision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'reject', comment: 'test over' }),
    });
    expect(rejected.status).toBe(200);
  });

  it('decides exactly once under 50 concurrent mixed POSTs: one SendTask, 409 for the rest', async () => {
    const { running, paused, link } = await pausedWithMail('approval');
    const form = await formOf(link);
    const before = sends.filter((each) => each.endsWith(paused.runId)).length;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post(link, { ...form, decision: i % 2 === 0 ? 'approve' : 'reject' }).then((response) => response.status),
      ),
    );
    expect(answers.filter((status) => status === 200)).toHaveLength(1);
    expect(answers.filter((status) => status === 409)).toHaveLength(49);
    expect(sends.filter((each) => each.endsWith(paused.runId)).length - before).toBe(1);
    const { meta } = await running;
    expect(meta.status).toBe('finished');
    expect(
      (await host.deps.store.listTrace(meta.runId)).filter((event) => event.kind === 'approval_decided'),
    ).toHaveLength(1);
  });
});

describe('rejection, per definition', () => {
  it('on_reject: continue (the default) tells the model who rejected the call and why, and the run goes on', async () => {
    const { running, approvalId, link } = await pausedWithMail('approval');
    const response = await post(link, { ...(await formOf(link)), decision: 'reject', comment: 'not tonight' });
    expect(await response.text()).toContain('may go on without it');
    const { meta, runId } = await running;
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', toolCalls: 0 });
    const state = await host.deps.store.loadState(runId);
    const result = state!.messages.find((message) => message.role === 'tool')!.content[0]!;
    expect(result).toMatchObject({
      type: 'tool_result',
      isError: true,
      content: 'not run: notes.create_entities was rejected by lead@example.com: not tonight',
    });
    const trace = await host.deps.store.listTrace(runId);
    expect(trace.find((event) => event.kind === 'approval_decided')).toMatchObject({
      status: 'denied',
      detail: expect.stringContaining(`approval ${approvalId}: rejected by lead@example.com`),
    });
    expect(trace.find((event) => event.kind === 'tool_denied')).toMatchObject({
      detail: expect.stringContaining('rejected by lead@example.com'),
    });
  });

  it('on_reject: stop ends the run `rejected` (SendTaskFailure), with the comment', async () => {
    const { running, link } = await pausedWithMail('approval-stop');
    const response = await post(link, { ...(await formOf(link)), decision: 'reject', comment: 'wrong repo' });
    expect(await response.text()).toContain('The run stops: rejected.');
    const { meta, runId } = await running;
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'rejected', toolCalls: 0 });
    expect(meta.stopDetail).toContain('rejected by lead@example.com: wrong repo');
    expect(sends).toContain(`failure ${runId}`);
  });
});

describe('the operator, expiry and the binding', () => {
  it('lets an authenticated operator approve through /v1, and refuses an unauthenticated one', async () => {
    const { running, approvalId } = await pausedWithMail('approval');
    const url = `${server.url}/v1/approvals/${approvalId}/decision`;
    expect(
      (
        await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"decision":"approve"}',
        })
      ).status,
    ).toBe(401);
    const bad = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"decision":"sure"}',
    });
    expect(bad.status).toBe(400);
    const ok = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"decision":"approve"}',
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      approvalId,
      status: 'approved',
      decision: { by: 'local:tester', via: 'operator local:tester' },
    });
    expect((await running).meta.stopReason).toBe('completed');
    const again = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"decision":"reject"}',
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('already_decided');
  });

  it('stops approval_expired when nobody decides, tells the approvers, and a late click gets a clear page', async () => {
    const { running, approvalId, link } = await pausedWithMail('approval-expires', 'tests@example.com');
    const { meta } = await running;
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'approval_expired' });
    expect((await host.deps.store.getApproval(approvalId))!.status).toBe('expired');
    const notice = await waitForMail(
      outbox(),
      (mail) => mail.subject.includes('expired') && mail.text.includes(approvalId),
    );
    expect(notice.to).toBe('tests@example.com');
    const late = await fetch(link);
    expect(late.status).toBe(410);
    expect(await late.text()).toContain('expired');
    expect((await post(link, { form_token: 'x', decision: 'approve' })).status).toBe(410);
  });

  it('stops a paused run approval_expired once its time is up when no execution holds the timer (after a restart)', async () => {
    const { paused, approvalId } = await pausedWithMail('approval');
    const record = (await host.deps.store.getApproval(approvalId))!;
    const notYet = watchPausedApprovals({
      ...host.deps,
      clock: { now: () => new Date(Date.parse(record.expiresAt) - 60_000) },
    });
    expect(await notYet.started).not.toContain(paused.runId);
    notYet.stop();
    expect((await host.deps.store.getRun(paused.runId))!.status).toBe('paused');
    const later = watchPausedApprovals({
      ...host.deps,
      clock: { now: () => new Date(Date.parse(record.expiresAt) + 1) },
    });
    expect(await later.started).toContain(paused.runId);
    later.stop();
    expect(await host.deps.store.getRun(paused.runId)).toMatchObject({
      status: 'finished',
      stopReason: 'approval_expired',
    });
    expect((await host.deps.store.getApproval(approvalId))!.status).toBe('expired');
  });

  it('a decision on a run that no longer waits (cancelled) gets a clear page and changes nothing', async () => {
    const { paused, approvalId, link } = await pausedWithMail('approval');
    const form = await formOf(link);
    const cancelled = await fetch(`${server.url}/v1/runs/${paused.runId}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(cancelled.status).toBe(202);
    const response = await post(link, { ...form, decision: 'approve' });
    expect(response.status).toBe(409);
    expect(await response.text()).toContain('no longer waiting');
    expect((await host.deps.store.getApproval(approvalId))!.status).toBe('pending');
  });

  it('runs the call only with the arguments that were approved: a changed call is refused', async () => {
    const { running, paused, link } = await pausedWithMail('approval');
    // Someone changes the stored call's arguments after the approval was requested.
    const db = DynamoDBDocumentClient.from(host.dynamodb, { marshallOptions: { removeUndefinedValues: true } });
    const state = (await host.deps.store.loadState(paused.runId))!;
    const seq = state.messages.findIndex((message) => message.role === 'assistant');
    const item = (await db.send(new GetCommand({ TableName: host.tableName, Key: messageKey(paused.runId, seq) })))
      .Item!;
    const changed = (item.body as string).replace('approved-note', 'swapped-note');
    expect(changed).not.toBe(item.body);
    await db.send(new PutCommand({ TableName: host.tableName, Item: { ...item, body: changed } }));

    await post(link, { ...(await formOf(link)), decision: 'approve' });
    const { meta, runId } = await running;
    expect(meta.toolCalls).toBe(0);
    const denied = (await host.deps.store.listTrace(runId)).find((event) => event.kind === 'tool_denied');
    expect(denied?.detail).toContain('was approved with other arguments or under another policy version');
  });
});

describe('the two-person rule', () => {
  it('runs the call only once two different approvers approved; the same approver twice counts once', async () => {
    const { running, paused, approvalId, link } = await pausedWithMail('approval-pair');
    const second = linkIn(
      await waitForMail(outbox(), (each) => each.text.includes(approvalId) && each.to === 'second@example.com'),
    );
    expect((await host.deps.store.getApproval(approvalId))!.requiredApprovals).toBe(2);

    const first = await post(link, { ...(await formOf(link)), decision: 'approve' });
    expect(first.status).toBe(200);
    expect(await first.text()).toContain('1 more must approve');
    expect((await host.deps.store.getRun(paused.runId))!.status).toBe('paused');
    const again = await post(link, { ...(await formOf(link)), decision: 'approve' });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('needs a second, different approver');
    expect((await host.deps.store.getApproval(approvalId))!).toMatchObject({
      status: 'pending',
      approvedBy: ['lead@example.com'],
    });

    const done = await post(second, { ...(await formOf(second)), decision: 'approve' });
    expect(done.status).toBe(200);
    const { meta } = await running;
    expect(meta).toMatchObject({ stopReason: 'completed', toolCalls: 1 });
    const decided = (await host.deps.store.listTrace(meta.runId)).filter((event) => event.kind === 'approval_decided');
    expect(decided).toHaveLength(1);
    expect(decided[0]!.detail).toContain('approved by lead@example.com and second@example.com');
  });

  it('lets one rejection decide', async () => {
    const { running, link } = await pausedWithMail('approval-pair', 'second@example.com');
    expect((await post(link, { ...(await formOf(link)), decision: 'reject', comment: 'no' })).status).toBe(200);
    expect((await running).meta).toMatchObject({ stopReason: 'completed', toolCalls: 0 });
  });
});

describe('the approval Lambda (functions/approval/http.ts)', () => {
  it('serves the same pages from an API Gateway event, and only the approval routes', async () => {
    const { running, approvalId, link } = await pausedWithMail('approval');
    const lambda = httpHandler(() => approvalApp(host.deps));
    const url = new URL(link);
    const event = (method: string, path: string, query = '', body?: string) => ({
      version: '2.0',
      rawPath: path,
      rawQueryString: query,
      headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
      body,
      isBase64Encoded: false,
      requestContext: { stage: '$default', http: { method } },
    });
    const page = await lambda(event('GET', url.pathname, url.search.slice(1)));
    expect(page.statusCode).toBe(200);
    const formToken = /name="form_token" value="([^"]+)"/.exec(String(page.body))![1]!;
    expect((await lambda(event('GET', '/openapi.json'))).statusCode).toBe(404);
    expect((await lambda(event('POST', '/webhooks/approval', '', '{}'))).statusCode).toBe(404);
    // The operator route is IAM-only: without a verified caller it is refused before anything is read.
    expect(
      (await lambda(event('POST', `/v1/approvals/${approvalId}/decision`, '', '{"decision":"approve"}'))).statusCode,
    ).toBe(401);
    const decided = await lambda(
      event(
        'POST',
        url.pathname,
        url.search.slice(1),
        new URLSearchParams({ form_token: formToken, decision: 'approve' }).toString(),
      ),
    );
    expect(decided.statusCode).toBe(200);
    expect((await running).meta.stopReason).toBe('completed');
  });
});

describe('the task token stays server-side', () => {
  it('appears in no mail, link, log line or trace', async () => {
    const { running, paused, approvalId, link } = await pausedWithMail('approval');
    const record = (await host.deps.store.getApproval(approvalId))!;
    expect(record.taskToken.length).toBeGreaterThan(20);
    await post(link, { ...(await formOf(link)), decision: 'approve' });
    await running;
    const mails = await readOutbox(outbox());
    const everything = [
      ...mails.map((mail) => mail.raw + mail.text + mail.html),
      link,
      ...logged,
      JSON.stringify(await host.deps.store.listTrace(paused.runId)),
      JSON.stringify(await host.deps.store.getRun(paused.runId)),
      await (
        await fetch(`${server.url}/v1/runs/${paused.runId}/trace`, { headers: { authorization: `Bearer ${token}` } })
      ).text(),
      await (await fetch(`${server.url}/v1/approvals`, { headers: { authorization: `Bearer ${token}` } })).text(),
    ].join('\n');
    expect(mails.length).toBeGreaterThan(0);
    expect(logged.length).toBeGreaterThan(0);
    expect(everything).not.toContain(record.taskToken);
  });
});
