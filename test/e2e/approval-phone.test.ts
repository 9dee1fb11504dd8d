import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { approvalOrg, linkIn, runUntilPaused, waitForMail } from '../support/approvals.ts';
import { approvalBrowserRig, type ApprovalBrowserRig } from '../support/approval-browser.ts';

/**
 * The approval page where approvers open it: often a phone, from a mail. A run reads the
 * notes (untrusted content from then on), then asks to delete one with a long name — a
 * destructive call. In Debian's Chromium at a phone's size and a desktop's, the page fits the
 * screen without scrolling sideways, says when it expires in words and the approver's clock,
 * says what approving risks, and shows buttons that look like what they do; screenshots of
 * both sizes go to test/artifacts/.
 */

const ARTIFACTS = 'test/artifacts';
const LONG_NAME = `triage-note-${'x'.repeat(90)}`;
let org: string;
let host: LocalHost & { stateDir: string };
let browser: Browser;
let rig: ApprovalBrowserRig | undefined;

beforeAll(async () => {
  org = await approvalOrg();
  await appendFile(
    join(org, 'models.yaml'),
    '  s-risky: { provider: scripted, script: scripts/risky.yaml, price: { input_per_mtok: 3, output_per_mtok: 15 } }\n',
  );
  await writeFile(
    join(org, 'scripts', 'risky.yaml'),
    `turns:
  - tool_calls: [{ tool: notes__read_graph, arguments: {} }]
  - text: Deleting the stale note.
    tool_calls: [{ tool: notes__delete_entities, arguments: { entityNames: [${LONG_NAME}] } }]
  - text: Done.
`,
  );
  await writeFile(
    join(org, 'approval-risky.yaml'),
    `agent:
  name: approval-risky
  owner: tests@example.com
  team: tests
  model: s-risky
  instructions: ./instructions.md@v1
  mcp_servers: [notes]
  harness: { max_cost_usd: 0.5 }
  approvals:
    notes.delete_entities: { approvers: [lead@example.com], timeout: 23h }
`,
  );
  rig = await approvalBrowserRig(org, 'phone-test-token');
  ({ host, browser } = rig);
  await mkdir(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await rig?.close();
  if (org) await rm(org, { recursive: true, force: true });
});

/** A button's colours, as the browser computes them from the page's own style. */
const colours = (page: Page, value: string) =>
  page.locator(`button[value="${value}"]`).evaluate((button) => {
    const view = globalThis as unknown as {
      getComputedStyle(element: unknown): { backgroundColor: string; color: string };
    };
    const style = view.getComputedStyle(button);
    return { background: style.backgroundColor, text: style.color };
  });

/** How far the page is wider than the screen (0: it fits). */
const overflowOf = (page: Page) =>
  page.evaluate(() => {
    const root = (
      globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
    ).document.documentElement;
    return root.scrollWidth - root.clientWidth;
  });

/** The overflow, and the buttons' boxes. */
async function layout(page: Page) {
  const overflow = await overflowOf(page);
  const approve = await page.locator('button[value="approve"]').boundingBox();
  const reject = await page.locator('button[value="reject"]').boundingBox();
  return { overflow, approve: approve!, reject: reject! };
}

describe('the approval page on a phone and a desktop', { timeout: 120_000 }, () => {
  it('fits a phone, says the expiry and the risk in words, and decides with a thumb-sized button', async () => {
    const { running, paused } = await runUntilPaused(host, 'approval-risky');
    const mail = await waitForMail(
      join(host.stateDir, 'outbox'),
      (each) => each.text.includes(paused.pendingApprovalId!) && each.to === 'lead@example.com',
    );
    const link = linkIn(mail);

    const desktop = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await desktop.goto(link);
      const text = await desktop.locator('body').innerText();
      expect(text).toMatch(/expires in 2[23] h, (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:\d\d UTC/);
      expect(text).toContain('Destructive: notes.delete_entities can delete or overwrite data');
      expect(text).toContain("Untrusted input: the run has read content from outside (a tool's result");
      expect(text).toMatch(/Cost so far: \$\d+\.\d+ of its \$0\.50 budget \(\d+%\)\./);
      const wide = await layout(desktop);
      expect(wide.overflow).toBe(0);
      // Side by side on a desktop.
      expect(wide.approve.y).toBe(wide.reject.y);
      await desktop.screenshot({ path: join(ARTIFACTS, 'approval-desktop.png'), fullPage: true });
    } finally {
      await desktop.close();
    }

    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 3,
      isMobile: true,
      hasTouch: true,
    });
    const phone = await context.newPage();
    try {
      await phone.goto(link);
      const narrow = await layout(phone);
      // The long entity name, tool names and run id wrap: nothing scrolls sideways.
      expect(narrow.overflow).toBe(0);
      await expect(phone.locator('pre').first().innerText()).resolves.toContain(LONG_NAME);
      // Stacked, each almost the screen's width and at least 44 px tall: made for a thumb.
      expect(narrow.reject.y).toBeGreaterThan(narrow.approve.y);
      expect(narrow.approve.width).toBeGreaterThan(300);
      expect(narrow.approve.height).toBeGreaterThanOrEqual(44);
      // The risk lines that matter stand out from the rest.
      await expect(phone.locator('.risk-high').count()).resolves.toBe(2);
      // Approving looks like going ahead (green), rejecting like stopping (red on white).
      expect(await colours(phone, 'approve')).toEqual({ background: 'rgb(26, 127, 55)', text: 'rgb(255, 255, 255)' });
      expect(await colours(phone, 'reject')).toEqual({ background: 'rgb(255, 255, 255)', text: 'rgb(180, 35, 24)' });
      await phone.screenshot({ path: join(ARTIFACTS, 'approval-phone.png'), fullPage: true });

      // The form posts to the page's own address, so wait for the answer's heading, not a URL.
      await phone.tap('button[value="approve"]');
      await phone.locator('h1', { hasText: /^Approved$/ }).waitFor({ timeout: 60_000 });
      await expect(phone.locator('h1').innerText()).resolves.toBe('Approved');
      expect(await overflowOf(phone)).toBe(0);
      await phone.screenshot({ path: join(ARTIFACTS, 'approval-phone-approved.png'), fullPage: true });
    } finally {
      await context.close();
    }
    const { meta } = await running;
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed' });
  });
});
