import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedFetch } from './clients.ts';
import { type DeployedOrg, deployOrg } from './deploy-org.ts';

/**
 * What a deployed stack does beyond a scheduled run, in the box under the template's IAM:
 * a run that waits for a human (the mail through SESv2, the signed link opened and decided
 * through the approval Lambda behind the HTTP API, the execution resumed by SendTaskSuccess),
 * and a run that delegates to sub-agents (child executions, `.sync:2`).
 */

async function until<T>(read: () => T | undefined, what: string): Promise<T> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const value = read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the box never reached: ${what}`);
}

describe('an approval-gated run on the deployed stack', () => {
  let deployed: DeployedOrg;
  beforeAll(async () => {
    deployed = await deployOrg('test/fixtures/box-org');
  }, 300_000);
  afterAll(async () => {
    await deployed?.box.close();
  });

  it('mails the approver through SES, is approved through the signed link, resumes and finishes', async () => {
    const { box, store } = deployed;
    const api = signedFetch(box);
    const started = await api(`${box.api.url}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'gated', input: { note: 'ok' } }),
    });
    expect(started.status).toBe(201);
    const { runId } = (await started.json()) as { runId: string };

    const mail = await until(() => box.gateway.sentMails[0], 'an approval mail');
    expect(mail).toMatchObject({ from: 'looprail@example.com', to: ['noor@example.com'] });
    const sent = `${mail.text ?? ''}${mail.html ?? ''}${mail.raw ?? ''}`;
    const link = /https:\/\/\S+?\/approvals\/[^\s"<]+/.exec(sent)?.[0];
    expect(link, sent.slice(0, 500)).toBeDefined();
    // The link names the deployed API; the box serves that API on 127.0.0.1.
    const local = `${box.api.url}${new URL(link!.replaceAll('&amp;', '&')).pathname}${new URL(link!.replaceAll('&amp;', '&')).search}`;
    expect(box.stepFunctions.pendingTokens()).toHaveLength(1);

    const page = await fetch(local);
    expect(page.status).toBe(200);
    const formToken = /name="form_token" value="([^"]+)"/.exec(await page.text())?.[1];
    expect(formToken).toBeDefined();
    const decided = await fetch(local, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ form_token: formToken!, decision: 'approve', comment: 'fine' }).toString(),
    });
    expect(decided.status).toBe(200);
    await box.stepFunctions.settled();

    expect(await store.getRun(runId)).toMatchObject({ status: 'finished', stopReason: 'completed' });
    const trace = await store.listTrace(runId);
    expect(trace.filter((event) => event.kind === 'tool_call').map((event) => [event.name, event.status])).toEqual([
      ['notes.create_entities', 'ok'],
    ]);
    expect(box.denials).toEqual([]);
  });
});

describe('a delegating run on the deployed stack', () => {
  let deployed: DeployedOrg;
  beforeAll(async () => {
    deployed = await deployOrg('test/fixtures/delegation-org');
  }, 300_000);
  afterAll(async () => {
    await deployed?.box.close();
  });

  it('runs each sub-agent as a child execution under the state machine role, with zero AccessDenied', async () => {
    const { box, store } = deployed;
    const api = signedFetch(box);
    const started = await api(`${box.api.url}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'lead', input: { task: 'Plan the release.' } }),
    });
    expect(started.status).toBe(201);
    const { runId } = (await started.json()) as { runId: string };
    await box.stepFunctions.settled();

    expect(await store.getRun(runId)).toMatchObject({ status: 'finished', stopReason: 'completed' });
    const delegations = (await store.listTrace(runId)).filter((event) => event.kind === 'delegation');
    expect(delegations.map((event) => [event.name, event.status, event.stopReason])).toEqual([
      ['researcher', 'ok', 'completed'],
      ['deputy', 'ok', 'completed'],
    ]);
    for (const delegation of delegations) {
      const child = await store.getRun(delegation.childRunId!);
      expect(child).toMatchObject({ parentRunId: runId, status: 'finished' });
    }
    expect(box.denials).toEqual([]);
  });
});
