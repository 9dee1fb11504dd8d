import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LocalHttpServer } from '../../cli/http-server.ts';
import { createApi } from '../../functions/http/api/index.ts';
import { testHost } from '../support/local-host.ts';

/**
 * The console's loop-memory page in headless Chromium with JavaScript off: reached from
 * the inventory, it shows the ledger and the note versions, and a run id there opens that run.
 */

let host: Awaited<ReturnType<typeof testHost>>;
let server: LocalHttpServer;
let browser: Browser;
let context: BrowserContext;
const token = randomBytes(24).toString('base64url');
let firstRunId: string;
let secondRunId: string;

beforeAll(async () => {
  host = await testHost('test/fixtures/memory-org');
  server = await startHttpServer({
    app: createApi({ ...host.deps, executions: host.executions, secrets: host.secrets }).handle,
    token,
    user: 'tester',
  });
  firstRunId = (await host.run({ agent: 'morning', input: {} })).runId;
  secondRunId = (await host.run({ agent: 'morning', input: {} })).runId;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  context = await browser.newContext({ javaScriptEnabled: false });
  const login = await context.newPage();
  await login.goto(new URL('/console/runs', server.url).href);
  await login.fill('input[name=token]', token);
  await Promise.all([login.waitForURL('**/console/runs'), login.click('button[type=submit]')]);
  await login.close();
}, 120_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
  await host?.close();
});

describe('the loop-memory console page (JavaScript off)', () => {
  it('is linked from the inventory, lists the ledger and the notes, and each run id opens its run', async () => {
    const page = await context.newPage();
    await page.goto(new URL('/console/inventory', server.url).href);
    await page.click('#agent-morning a:has-text("ledger and notes")');
    await page.waitForURL('**/console/agents/morning/memory');
    expect(await page.title()).toBe('Memory of morning · looprail');
    const rows = await page.locator('table').first().locator('tbody tr').allInnerTexts();
    expect(rows.map((row) => row.split('\t').slice(0, 4))).toEqual([
      ['ci-2', 'needs_human', '2/2', secondRunId],
      ['ci-1', 'done', '1/2', firstRunId],
    ]);
    expect(await page.locator('#note-2').innerText()).toContain(`run ${secondRunId}`);
    expect(await page.locator('#note-1 pre').innerText()).toBe(
      'Fixed ci-1 (import). ci-2 is a flaky network test: retry it next run.',
    );
    await Promise.all([page.waitForURL(`**/console/runs/${firstRunId}`), page.click(`#note-1 a`)]);
    expect(await page.title()).toBe(`Run ${firstRunId} · looprail`);
    const missing = await page.goto(new URL('/console/agents/careless-nobody/memory', server.url).href);
    expect(missing?.status()).toBe(404);
    expect(await page.locator('main').innerText()).toContain('unknown agent "careless-nobody"');
    await page.close();
  });
});
