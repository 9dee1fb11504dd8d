import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { approvalOrg, linkIn, runUntilPaused, waitForMail } from '../support/approvals.ts';
import { approvalBrowserRig, type ApprovalBrowserRig } from '../support/approval-browser.ts';

/**
 * A person in a real browser (Debian's Chromium, headless, driven by playwright-core):
 * a loop runs locally until it pauses, the approval mail is read from the outbox, its
 * link is opened, and a click decides. A browser that runs JavaScript and loads the page
 * again and again decides nothing by itself.
 */

const ARTIFACTS = 'test/artifacts';
let org: string;
let host: LocalHost & { stateDir: string };
let browser: Browser;
let rig: ApprovalBrowserRig | undefined;

beforeAll(async () => {
  org = await approvalOrg();
  rig = await approvalBrowserRig(org, 'browser-test-token');
  ({ host, browser } = rig);
  await mkdir(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await rig?.close();
  if (org) await rm(org, { recursive: true, force: true });
});

async function pausedLink(agent: string, recipient: string) {
  const { running, paused } = await runUntilPaused(host, agent);
  const mail = await waitForMail(
    join(host.stateDir, 'outbox'),
    (each) =>
      each.text.includes(paused.pendingApprovalId!) &&
      each.to === recipient &&
      each.subject.startsWith('[looprail] approve'),
  );
  return { running, paused, link: linkIn(mail) };
}

describe('deciding in a real browser', () => {
  it('opens the mailed link, changes nothing by loading it, and approves with a click: the run finishes', async () => {
    const { running, paused, link } = await pausedLink('approval', 'lead@example.com');
    const page = await browser.newPage();
    try {
      await page.goto(link);
      await page.reload();
      await page.goto(link);
      expect(await page.title()).toBe('Approve notes.create_entities?');
      await expect(page.locator('body').innerText()).resolves.toContain('approved-note');
      expect((await host.deps.store.getApproval(paused.pendingApprovalId!))!.status).toBe('pending');
      await page.screenshot({ path: join(ARTIFACTS, 'approval-confirmation.png'), fullPage: true });

      await page.fill('textarea[name="comment"]', 'ship it');
      await Promise.all([page.waitForURL(/\/approvals\//), page.click('button[value="approve"]')]);
      await expect(page.locator('h1').innerText()).resolves.toBe('Approved');
      await page.screenshot({ path: join(ARTIFACTS, 'approval-approved.png') });
    } finally {
      await page.close();
    }
    const { meta } = await running;
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', toolCalls: 1 });
    const decided = (await host.deps.store.listTrace(meta.runId)).find((event) => event.kind === 'approval_decided');
    expect(decided!.detail).toContain('approved by lead@example.com');
    expect(decided!.detail).toContain(': ship it');
  });

  it('rejects with a click: the run stops rejected (on_reject: stop), and going back to the form decides nothing again', async () => {
    const { running, link } = await pausedLink('approval-stop', 'lead@example.com');
    const page = await browser.newPage();
    try {
      await page.goto(link);
      await page.fill('textarea[name="comment"]', 'wrong branch');
      await Promise.all([page.waitForURL(/\/approvals\//), page.click('button[value="reject"]')]);
      await expect(page.locator('body').innerText()).resolves.toContain('The run stops: rejected.');
      await page.goBack();
      await page.goto(link);
      await expect(page.locator('h1').innerText()).resolves.toBe('Already decided');
    } finally {
      await page.close();
    }
    const { meta } = await running;
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'rejected' });
    expect(meta.stopDetail).toContain('wrong branch');
  });

  it('lets an approval expire: the run stops approval_expired and the link shows that it expired', async () => {
    const { running, link } = await pausedLink('approval-expires', 'tests@example.com');
    const { meta } = await running;
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'approval_expired' });
    const page = await browser.newPage();
    try {
      const response = await page.goto(link);
      expect(response!.status()).toBe(410);
      await expect(page.locator('h1').innerText()).resolves.toBe('This link has expired');
      await page.screenshot({ path: join(ARTIFACTS, 'approval-expired.png') });
    } finally {
      await page.close();
    }
  });
});
