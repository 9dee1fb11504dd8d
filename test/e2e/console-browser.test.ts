import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { LooprailApiError, LooprailClient } from '../../cli/client.ts';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LocalHttpServer } from '../../cli/http-server.ts';
import { createApi } from '../../functions/http/api/index.ts';
import { TRACE_PAGE_SIZE } from '../../functions/http/console/run-page.ts';
import { testHost } from '../support/local-host.ts';
import { seedRun } from '../support/seeded-runs.ts';

/**
 * The web console end to end: recorded runs on a local host (a real run with a checker
 * and markup in a tool result, a paused run, a seeded run of thousands of steps), the one
 * HTTP app on 127.0.0.1, and every page loaded in headless Chromium, with JavaScript off
 * (the pages need none) and on (to prove recorded markup never runs). Screenshots go to
 * test/artifacts/.
 */

const ARTIFACTS = join(process.cwd(), 'test', 'artifacts');
const MARKUP = '<script>document.title = "pwned"; window.pwned = true</script>';
const LONG_STEPS = 2_500;

let host: Awaited<ReturnType<typeof testHost>>;
let server: LocalHttpServer;
let browser: Browser;
const token = randomBytes(24).toString('base64url');
const auth = { authorization: `Bearer ${token}` };
let makerRunId: string;
let approvalRunId: string;
let approvalId: string;

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  host = await testHost('test/fixtures/console-org');
  server = await startHttpServer({
    app: createApi({ ...host.deps, executions: host.executions, secrets: host.secrets }).handle,
    token,
    user: 'tester',
  });
  const made = await host.run({ agent: 'console-maker', input: { ask: 'echo it' } });
  expect(made.meta.stopReason).toBe('verified');
  makerRunId = made.runId;
  await seedRun(host.deps.store, {
    runId: 'seeded-long',
    agent: 'console-maker',
    steps: LONG_STEPS,
    trigger: { kind: 'schedule' },
    stopReason: 'max_steps',
    toolText: MARKUP,
  });
  // Through the API: the execution runs in the background and pauses for its approver.
  const started = await fetch(new URL('/v1/runs', server.url), {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ agent: 'console-approval', input: {} }),
  });
  approvalRunId = ((await started.json()) as { runId: string }).runId;
  for (let i = 0; i < 400; i++) {
    const run = await host.deps.store.getRun(approvalRunId);
    if (run?.status === 'paused' && run.pendingApprovalId) {
      approvalId = run.pendingApprovalId;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(approvalId).toBeDefined();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await host?.close();
});

function get(path: string, headers: Record<string, string> = auth) {
  return fetch(new URL(path, server.url), { headers, redirect: 'manual' });
}

describe('the console over HTTP', () => {
  it('needs the same token as the API: a header, or the cookie its login form sets', async () => {
    const anonymous = await get('/console/runs', {});
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toContain('Sign in to the console');
    expect((await get('/console/runs')).status).toBe(200);

    const wrong = await fetch(new URL('/console/login', server.url), {
      method: 'POST',
      body: new URLSearchParams({ token: `${token}x`, next: '/console/costs' }),
      redirect: 'manual',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const right = await fetch(new URL('/console/login', server.url), {
      method: 'POST',
      body: new URLSearchParams({ token, next: '/console/costs' }),
      redirect: 'manual',
    });
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe('/console/costs');
    const cookie = right.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect((await get('/console/costs', { cookie: cookie.split(';')[0]! })).status).toBe(200);
    // The cookie opens the console only, never the API.
    expect((await get('/v1/runs', { cookie: cookie.split(';')[0]! })).status).toBe(401);
    // A login cannot send anyone to another site.
    const offsite = await fetch(new URL('/console/login', server.url), {
      method: 'POST',
      body: new URLSearchParams({ token, next: '//evil.example/x' }),
      redirect: 'manual',
    });
    expect(offsite.headers.get('location')).toBe('/console/runs');
  });

  it('escapes recorded markup and forbids scripts outright', async () => {
    const page = await get(`/console/runs/${makerRunId}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const text = await page.text();
    expect(text).toContain('&lt;script&gt;document.title = &quot;pwned&quot;');
    expect(text).not.toMatch(/<script/i);
    expect(text).not.toMatch(/<img/i);
  });

  it('answers an unknown run with a 404 page, and a bad filter with a 400 that names it', async () => {
    const missing = await get('/console/runs/no-such-run');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/text\/html/);
    expect(await missing.text()).toContain('run no-such-run does not exist');
    const bad = await get('/console/runs?status=sideways');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('query.status');
    const backwards = await get('/console/runs?from=2026-03-02&to=2026-03-01');
    expect(backwards.status).toBe(400);
    expect((await get('/console/runs/seeded-long?after=-4')).status).toBe(400);
    expect((await get('/console/costs?days=0')).status).toBe(400);
  });
});

describe('the console in Chromium', () => {
  let noScript: BrowserContext;
  let withScript: BrowserContext;

  beforeAll(async () => {
    noScript = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1400, height: 1000 } });
    withScript = await browser.newContext({ javaScriptEnabled: true, viewport: { width: 1400, height: 1000 } });
    // Signed in the way a person does: the login form, JavaScript off.
    const login = await noScript.newPage();
    await login.goto(new URL('/console/runs', server.url).href);
    await login.fill('input[name=token]', token);
    await Promise.all([login.waitForURL('**/console/runs'), login.click('button[type=submit]')]);
    await login.close();
    await withScript.setExtraHTTPHeaders(auth);
  });

  afterAll(async () => {
    await noScript?.close();
    await withScript?.close();
  });

  async function open(path: string, shot: string, context = noScript): Promise<Page> {
    const page = await context.newPage();
    const response = await page.goto(new URL(path, server.url).href);
    expect(response?.status(), path).toBe(200);
    await page.screenshot({ path: join(ARTIFACTS, `console-${shot}.png`), fullPage: shot !== 'run-long' });
    return page;
  }

  it('lists runs and filters them with plain GET forms', async () => {
    const page = await open('/console/runs', 'runs');
    const rows = page.locator('table tbody tr');
    await expect.poll(() => rows.count()).toBe(3);
    await page.selectOption('select[name=agent]', 'console-approval');
    await Promise.all([page.waitForURL(/agent=console-approval/), page.click('button[type=submit]')]);
    expect(await page.locator('table tbody tr').count()).toBe(1);
    expect(await page.locator('table tbody').innerText()).toContain(approvalRunId);
    await page.screenshot({ path: join(ARTIFACTS, 'console-runs-filtered.png'), fullPage: true });

    await page.goto(new URL('/console/runs?stopReason=max_steps&trigger=schedule', server.url).href);
    expect(await page.locator('table tbody tr').count()).toBe(1);
    expect(await page.locator('table tbody').innerText()).toContain('seeded-long');
    await page.goto(new URL('/console/runs?trigger=api', server.url).href);
    expect(await page.locator('table tbody').innerText()).toContain(approvalRunId);
    await page.goto(new URL('/console/runs?from=2026-01-05&to=2026-01-05', server.url).href);
    expect(await page.locator('table tbody tr').count()).toBe(1);
    await page.goto(new URL('/console/runs?limit=1', server.url).href);
    expect(await page.locator('table tbody tr').count()).toBe(1);
    await page.click('a[rel=next]');
    expect(await page.locator('table tbody tr').count()).toBe(1);
    await page.close();
  });

  it('shows a run as a waterfall, its checker nested, and tool markup as text that never runs', async () => {
    const errors: string[] = [];
    const page = await withScript.newPage();
    page.on('console', (message) => errors.push(message.text()));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(new URL(`/console/runs/${makerRunId}`, server.url).href);
    await page.screenshot({ path: join(ARTIFACTS, 'console-run.png'), fullPage: true });
    expect(await page.title()).toBe(`Run ${makerRunId} · looprail`);
    expect(await page.evaluate(() => (globalThis as unknown as { pwned?: boolean }).pwned)).toBeUndefined();
    expect(await page.locator('script, img').count()).toBe(0);
    // The markup is on the page as text: in the conversation and in the tool call's result.
    const results = page.locator('pre.tool-result', { hasText: '<script>document.title = "pwned"' });
    expect(await results.count()).toBeGreaterThanOrEqual(2);
    // No blocked script either: nothing reached the parser as markup.
    expect(errors).toEqual([]);

    const steps = page.locator('table.waterfall tbody tr');
    const kinds = await steps.evaluateAll((rows) => rows.map((row) => row.getAttribute('data-kind')));
    expect(kinds).toContain('model_call');
    expect(kinds).toContain('tool_call');
    expect(kinds).toContain('verification');
    expect(await page.locator('table.waterfall tr.nested').count()).toBeGreaterThan(0);
    expect(await page.locator('table.waterfall .bar span').count()).toBe(kinds.length);
    expect(await page.locator('table.waterfall').innerText()).toMatch(/\$0\.00\d+/);
    await page.close();
  });

  it("shows each checker row with the checker's own call, though its call ids repeat the maker's", async () => {
    const page = await open(`/console/runs/${makerRunId}`, 'run-checker-rows');
    // Both runs' first calls are `call-0-0`: the maker's echoes markup, the checker's adds 2 and 3.
    const makerRow = page.locator('table.waterfall tbody tr:not(.nested)[data-kind=tool_call]', {
      hasText: 'everything.echo',
    });
    const checkerRow = page.locator('table.waterfall tbody tr.nested[data-kind=tool_call]');
    expect(await checkerRow.count()).toBe(1);
    expect(await checkerRow.locator('td.name').innerText()).toContain('everything.get-sum');
    await checkerRow.locator('details summary').click();
    const shown = await checkerRow.locator('details').innerText();
    expect(shown).toMatch(/"a": 2,\s+"b": 3/);
    expect(shown).not.toContain('pwned');
    await makerRow.locator('details summary').click();
    expect(await makerRow.locator('details').innerText()).toContain('<script>document.title = "pwned"');
    await page.screenshot({ path: join(ARTIFACTS, 'console-run-checker-rows.png'), fullPage: true });
    await page.close();
  });

  it('pages a run of thousands of steps', async () => {
    const page = await open('/console/runs/seeded-long', 'run-long');
    expect(await page.locator('table.waterfall tbody tr').count()).toBe(TRACE_PAGE_SIZE);
    expect(await page.locator('main').innerText()).toContain(`of ${LONG_STEPS.toLocaleString('en-US')}`);
    await page.click('a[rel=next]');
    const first = await page.locator('table.waterfall tbody tr td.num').first().innerText();
    expect(first).toBe(String(TRACE_PAGE_SIZE));
    // The last page has no next link.
    await page.goto(new URL(`/console/runs/seeded-long?after=${LONG_STEPS - 11}`, server.url).href);
    expect(await page.locator('table.waterfall tbody tr').count()).toBe(10);
    expect(await page.locator('a[rel=next]').count()).toBe(0);
    await page.close();
  });

  it('answers an unknown run with a page that says so', async () => {
    const page = await noScript.newPage();
    const response = await page.goto(new URL('/console/runs/nope-404', server.url).href);
    expect(response?.status()).toBe(404);
    expect(await page.locator('main').innerText()).toContain('run nope-404 does not exist');
    await page.screenshot({ path: join(ARTIFACTS, 'console-404.png') });
    await page.close();
  });

  it('lists pending approvals, each linking to its approval page', async () => {
    const page = await open('/console/approvals', 'approvals');
    const link = page.locator(`a[href="/approvals/${approvalId}"]`);
    expect(await link.count()).toBe(1);
    expect(await page.locator('table tbody').innerText()).toContain('everything.echo');
    expect(await page.locator('table tbody').innerText()).toContain('lead@example.com');
    await page.close();
  });

  it('shows the inventory: what each agent can touch, its schedule and budgets', async () => {
    const page = await open('/console/inventory', 'inventory');
    const maker = page.locator('#agent-console-maker');
    expect(await maker.innerText()).toContain('schedule cron(0 7 ? * MON-FRI *) (Europe/Paris)');
    expect(await maker.innerText()).toContain('everything.echo');
    expect(await maker.innerText()).toContain('Sub-agent reviewer');
    expect(await page.locator('#agent-console-approval').innerText()).toMatch(/everything\.echo\s+write/);
    await page.close();
  });

  it('charts costs per agent, team and model as inline SVG', async () => {
    const page = await open('/console/costs?days=7', 'costs');
    for (const dimension of ['agent', 'team', 'model']) {
      expect(await page.locator(`#costs-${dimension}`).count()).toBe(1);
    }
    expect(await page.locator('svg.chart').count()).toBe(3);
    expect(await page.locator('svg.chart rect').count()).toBeGreaterThan(0);
    const text = await page.locator('main').innerText();
    expect(text).toContain('console-team');
    expect(text).toContain('s-console-checker');
    await page.close();
  });
});

describe('traces through the API and the CLI', () => {
  it('pages a long trace over the API, and the client reads it whole', async () => {
    const client = new LooprailClient({ url: server.url, token });
    const page = await client.getTrace('seeded-long', { limit: 1000 });
    expect(page.events).toHaveLength(1000);
    expect(page.nextAfter).toBe(999);
    const rest = await client.getTrace('seeded-long', { after: page.nextAfter, limit: 1000 });
    expect(rest.events[0]!.seq).toBe(1000);
    const whole = await client.getTrace('seeded-long');
    expect(whole.events.map((event) => event.seq)).toEqual(Array.from({ length: LONG_STEPS }, (_, i) => i));
    await expect(client.getTrace('seeded-long', { limit: 5000 })).rejects.toMatchObject({
      status: 400,
      field: 'limit',
    });
    const missing = await client.getTrace('no-such-run').catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(LooprailApiError);
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('`looprail trace` shows the tree with the checker run nested, and --json the raw events', async () => {
    const cli = (...args: string[]) =>
      promisify(execFile)(
        process.execPath,
        ['bin/looprail.js', 'trace', makerRunId, '--url', server.url, '--token', token, ...args],
        { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
      );
    const { stdout } = await cli();
    const lines = stdout.split('\n');
    const verification = lines.findIndex((line) => /^ {2}verify\s+reviewer/.test(line));
    expect(verification).toBeGreaterThan(0);
    expect(lines[verification + 1]).toMatch(new RegExp(`^ {2}│ ▷ ${makerRunId}-`));
    expect(lines[verification + 2]).toMatch(/^ {2}│ start\s+reviewer/);
    expect(lines.some((line) => /^ {2}│ model\s+s-console-checker \[scripted\]/.test(line))).toBe(true);
    expect(stdout).toContain('■ verified');
    // The agent's final answer, read through the API's run detail.
    expect(stdout).toContain('\nAnswer:\n  Done; the sum is 5.');
    const json = JSON.parse((await cli('--json')).stdout) as {
      answer: string;
      run: { runId: string; answer: string };
      trace: Array<{ kind: string; childRunId?: string }>;
      children: Record<string, Array<{ kind: string }>>;
    };
    expect(json.run.runId).toBe(makerRunId);
    expect(json.answer).toBe('Done; the sum is 5.');
    expect(json.run.answer).toBe('Done; the sum is 5.');
    const child = json.trace.find((event) => event.kind === 'verification')!.childRunId!;
    expect(json.children[child]!.map((event) => event.kind)).toContain('model_call');
  });
});
