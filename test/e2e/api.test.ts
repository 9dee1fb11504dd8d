import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { DEV_FILE, LooprailApiError, LooprailClient, resolveEndpoint } from '../../cli/client.ts';
import { startDevServer } from '../../cli/commands/dev.ts';
import { MAX_BODY_BYTES, startHttpServer, type LocalHttpServer } from '../../cli/http-server.ts';
import type { RunDetail, RunPage, RunSummary, RunTrace } from '../../functions/http/api/runs.ts';
import { createApi } from '../../functions/http/api/index.ts';
import { Router } from '../../functions/http/router.ts';
import { testHost } from '../support/local-host.ts';
import { githubSignature } from '../../core/policy/webhook-signature.ts';

/**
 * The HTTP API end to end: the one app (functions/http/api/) on the local node server,
 * over the local host (the same ASL, handlers and DynamoDB store as `looprail run`), with
 * the local execution starter running each run in the background.
 */

let host: Awaited<ReturnType<typeof testHost>>;
const WEBHOOK_SECRET = 'api-test-webhook-secret-0123456789';
let server: LocalHttpServer;
const token = randomBytes(24).toString('base64url');
const auth = { authorization: `Bearer ${token}` };

beforeAll(async () => {
  process.env.LOOPRAIL_SECRET_GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET;
  host = await testHost('test/fixtures/loop-org');
  const api = createApi({ ...host.deps, executions: host.executions, secrets: host.secrets });
  server = await startHttpServer({ app: api.handle, token, user: 'tester' });
});

afterAll(async () => {
  await server?.close();
  await host?.close();
});

function call(
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; raw?: string } = {},
) {
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return fetch(new URL(path, server.url), {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    body,
  });
}

async function startRun(body: unknown, headers: Record<string, string> = {}) {
  const response = await call('POST', '/v1/runs', { body, headers });
  return {
    response,
    json: (await response.json()) as RunSummary & { error?: { code: string; message: string; field?: string } },
  };
}

/** Polls the API until the run has ended (or reached `until`). */
async function waitFor(
  runId: string,
  until: (run: RunDetail) => boolean = (run) => run.status === 'finished' || run.status === 'failed',
  timeoutMs = 45_000,
): Promise<RunDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await call('GET', `/v1/runs/${runId}`);
    expect(response.status).toBe(200);
    const run = (await response.json()) as RunDetail;
    if (until(run)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} is still ${run.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the HTTP API on the local server', () => {
  it('refuses /v1 without the token, and serves the OpenAPI document without one', async () => {
    const none = await fetch(new URL('/v1/runs', server.url));
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.json()).toMatchObject({ error: { code: 'unauthenticated' } });
    const wrong = await fetch(new URL('/v1/runs', server.url), { headers: { authorization: `Bearer ${token}x` } });
    expect(wrong.status).toBe(401);
    const notBearer = await fetch(new URL('/v1/runs', server.url), { headers: { authorization: `Basic ${token}` } });
    expect(notBearer.status).toBe(401);

    const openapi = await fetch(new URL('/openapi.json', server.url));
    expect(openapi.status).toBe(200);
    const document = (await openapi.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { operationId: string; parameters: Array<{ name: string }> }>>;
    };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths).sort()).toEqual([
      '/v1/agents',
      '/v1/agents/{agent}/memory',
      '/v1/approvals',
      '/v1/costs',
      '/v1/inventory',
      '/v1/runs',
      '/v1/runs/{runId}',
      '/v1/runs/{runId}/cancel',
      '/v1/runs/{runId}/trace',
    ]);
    expect(document.paths['/v1/runs']!.post!.operationId).toBe('startRun');
    expect(document.paths['/v1/runs']!.get!.parameters.map((p) => p.name)).toEqual([
      'agent',
      'status',
      'limit',
      'cursor',
    ]);
    expect(document.paths['/v1/runs/{runId}/trace']!.get!.parameters.map((p) => p.name)).toEqual([
      'runId',
      'limit',
      'after',
    ]);
  });

  it('starts a run that runs to verified, and answers a repeated idempotency key with the same run', async () => {
    const key = `key-${randomUUID()}`;
    const first = await startRun({ agent: 'basic', input: { repo: 'acme/shop' } }, { 'idempotency-key': key });
    expect(first.response.status).toBe(201);
    expect(first.response.headers.get('location')).toBe(`/v1/runs/${first.json.runId}`);
    expect(first.json).toMatchObject({ agent: 'basic', principal: 'local:tester', trigger: { kind: 'api' } });

    const run = await waitFor(first.json.runId);
    expect(run).toMatchObject({ status: 'finished', stopReason: 'verified', input: { repo: 'acme/shop' } });
    expect(run.usage.costMicros).toBeGreaterThan(0);

    // The key in the body this time: the same run, nothing new started.
    const again = await startRun({ agent: 'basic', input: { repo: 'acme/shop' }, idempotencyKey: key });
    expect(again.response.status).toBe(200);
    expect(again.json).toMatchObject({ runId: first.json.runId, status: 'finished', stopReason: 'verified' });
    const listed = (await (await call('GET', '/v1/runs?agent=basic&limit=100')).json()) as RunPage;
    expect(listed.runs.filter((each) => each.runId === first.json.runId)).toHaveLength(1);
    expect(listed.runs.every((each) => each.agent === 'basic')).toBe(true);

    // The same key with another input is a mistake, not a new run.
    const reused = await startRun({ agent: 'basic', input: { repo: 'other/repo' } }, { 'idempotency-key': key });
    expect(reused.response.status).toBe(409);
    expect(reused.json.error).toMatchObject({ code: 'idempotency_key_reused', field: 'idempotencyKey' });

    // The trace: the run's own events, and its checker's.
    const trace = (await (await call('GET', `/v1/runs/${first.json.runId}/trace`)).json()) as RunTrace;
    expect(trace.runId).toBe(first.json.runId);
    expect(trace.events.map((event) => event.kind)).toEqual(
      expect.arrayContaining(['run_started', 'model_call', 'tool_call', 'verification', 'run_finished']),
    );
    const seqs = trace.events.map((event) => event.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(trace.checkers.length).toBeGreaterThan(0);
    expect(trace.checkers[0]!.events.every((event) => event.role === 'checker')).toBe(true);
  });

  it('says what is wrong with a start: unknown agent, paused agent, input against the schema, the body itself', async () => {
    const unknown = await startRun({ agent: 'no-such-agent' });
    expect(unknown.response.status).toBe(404);
    expect(unknown.json.error).toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('"no-such-agent"'),
    });
    // A name that is an inherited object key is an unknown agent too, not a server error.
    const inherited = await startRun({ agent: 'constructor' });
    expect(inherited.response.status).toBe(404);
    expect(inherited.json.error).toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('"constructor"'),
    });

    const paused = await startRun({ agent: 'paused' });
    expect(paused.response.status).toBe(409);
    expect(paused.json.error).toMatchObject({ code: 'agent_paused', field: 'agent' });

    const typed = await startRun({ agent: 'typed-input', input: { branch: 'main' } });
    expect(typed.response.status).toBe(400);
    expect(typed.json.error).toMatchObject({
      code: 'invalid_input',
      field: 'input',
      message: expect.stringContaining('repo'),
    });
    const mistyped = await startRun({ agent: 'typed-input', input: { repo: 42 } });
    expect(mistyped.response.status).toBe(400);
    expect(mistyped.json.error?.message).toContain('input/repo');

    const noAgent = await startRun({ input: {} });
    expect(noAgent.response.status).toBe(400);
    expect(noAgent.json.error).toMatchObject({ code: 'invalid_request', field: 'agent' });
    const extra = await startRun({ agent: 'basic', inptu: {} });
    expect(extra.response.status).toBe(400);
    const notJson = await call('POST', '/v1/runs', { raw: '{"agent":' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: { code: 'invalid_json' } });
    const keys = await startRun({ agent: 'basic', idempotencyKey: 'a' }, { 'idempotency-key': 'b' });
    expect(keys.response.status).toBe(400);

    const huge = await call('POST', '/v1/runs', {
      body: { agent: 'basic', input: { padding: 'x'.repeat(MAX_BODY_BYTES) } },
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: 'body_too_large' } });

    // None of these recorded a run.
    const typedRuns = (await (await call('GET', '/v1/runs?agent=typed-input')).json()) as RunPage;
    expect(typedRuns.runs).toEqual([]);
  });

  it('cancels a run in flight: it ends cancelled, and a second cancel is refused', async () => {
    const started = await startRun({ agent: 'long-running' });
    expect(started.response.status).toBe(201);
    await waitFor(started.json.runId, (run) => run.modelCalls >= 2);

    const cancelled = await call('POST', `/v1/runs/${started.json.runId}/cancel`);
    expect(cancelled.status).toBe(202);
    const run = await waitFor(started.json.runId);
    expect(run).toMatchObject({ status: 'finished', stopReason: 'cancelled' });
    expect(run.stopDetail).toContain('local:tester');
    expect(host.executions.running()).not.toContain(started.json.runId);

    const again = await call('POST', `/v1/runs/${started.json.runId}/cancel`);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: 'run_ended' } });
    expect((await call('POST', '/v1/runs/r-missing/cancel')).status).toBe(404);
  });

  it('lists runs newest first, by agent and status, a page at a time', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { json } = await startRun({ agent: 'typed-input', input: { repo: `acme/${i}` } });
      ids.push(json.runId);
    }
    for (const id of ids) await waitFor(id);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = (await (
        await call('GET', `/v1/runs?agent=typed-input&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      ).json()) as RunPage;
      expect(page.runs.length).toBeLessThanOrEqual(2);
      seen.push(...page.runs.map((run) => run.runId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    // The scripted model of typed-input runs out of turns: its runs end failed.
    const failed = (await (await call('GET', '/v1/runs?agent=typed-input&status=failed')).json()) as RunPage;
    expect(failed.runs.map((run) => run.runId)).toEqual([...ids].reverse());
    const running = (await (await call('GET', '/v1/runs?agent=typed-input&status=running')).json()) as RunPage;
    expect(running.runs).toEqual([]);

    const badStatus = await call('GET', '/v1/runs?status=sleeping');
    expect(badStatus.status).toBe(400);
    expect(await badStatus.json()).toMatchObject({ error: { field: 'status' } });
    const badLimit = await call('GET', '/v1/runs?limit=0');
    expect(await badLimit.json()).toMatchObject({ error: { field: 'limit' } });
    const badCursor = await call('GET', '/v1/runs?cursor=not-a-cursor');
    expect(badCursor.status).toBe(400);
    expect(await badCursor.json()).toMatchObject({ error: { field: 'cursor' } });
  });

  it('answers unknown paths 404 and wrong methods 405 with Allow', async () => {
    const missing = await call('GET', '/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    const wrong = await call('DELETE', '/v1/runs');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST, GET');
    expect((await call('GET', '/v1/runs/r-does-not-exist')).status).toBe(404);
  });

  it('the typed client: start, read, trace, list, approvals, inventory, cancel', async () => {
    const client = new LooprailClient({ url: server.url, token });
    const { created, run } = await client.startRun({ agent: 'approval', input: { repo: 'acme/shop' } });
    expect(created).toBe(true);
    // The approval agent pauses for a human before it writes.
    const paused = await waitFor(run.runId, (each) => each.status === 'paused');
    expect(paused.pendingApprovalId).toBeDefined();

    const approvals = await client.listApprovals({ agent: 'approval' });
    const approval = approvals.approvals.find((each) => each.runId === run.runId);
    expect(approval).toMatchObject({
      approvalId: paused.pendingApprovalId,
      agent: 'approval',
      status: 'pending',
      approvers: ['lead@example.com'],
    });
    expect(JSON.stringify(approvals)).not.toContain('taskToken');
    expect((await client.listApprovals()).approvals.map((each) => each.runId)).toContain(run.runId);

    expect((await client.getRun(run.runId)).input).toEqual({ repo: 'acme/shop' });
    expect((await client.getTrace(run.runId)).events.map((event) => event.kind)).toContain('approval_requested');
    expect((await client.listRuns({ agent: 'approval' })).runs.map((each) => each.runId)).toContain(run.runId);
    const inventory = await client.inventory();
    expect(inventory.agents.find((entry) => entry.agent === 'paused')).toMatchObject({ enabled: false });

    const cancelled = await client.cancelRun(run.runId);
    expect(cancelled.runId).toBe(run.runId);
    expect(await waitFor(run.runId)).toMatchObject({ stopReason: 'cancelled' });
    expect((await client.listApprovals({ agent: 'approval' })).approvals.map((each) => each.runId)).not.toContain(
      run.runId,
    );

    const failure = await client.cancelRun(run.runId).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LooprailApiError);
    expect(failure).toMatchObject({ status: 409, code: 'run_ended' });
    const noToken = await new LooprailClient({ url: server.url }).listRuns().catch((error: unknown) => error);
    expect(noToken).toMatchObject({ status: 401, code: 'unauthenticated' });
  });

  it('lists the agents with their owner and whether they are enabled', async () => {
    const response = await call('GET', '/v1/agents');
    const { agents } = (await response.json()) as { agents: Array<{ name: string; enabled: boolean; owner?: string }> };
    expect(agents.find((agent) => agent.name === 'paused')).toEqual({
      name: 'paused',
      enabled: false,
      owner: 'tests@example.com',
      team: 'tests',
    });
    expect(agents.map((agent) => agent.name)).toEqual([...agents.map((agent) => agent.name)].sort());
  });
});

describe('the router', () => {
  it('hides unexpected errors behind a request id and logs the details', async () => {
    const logged: Array<Record<string, unknown> | undefined> = [];
    const router = new Router({ log: { info() {}, warn() {}, error: (_message, fields) => logged.push(fields) } }).get(
      '/boom/:id',
      async () => {
        throw new Error('secret internals at /var/task/x.ts:12');
      },
    );
    const response = await router.handle({
      method: 'GET',
      path: '/boom/1',
      query: {},
      headers: {},
      rawBody: Buffer.alloc(0),
    });
    expect(response.status).toBe(500);
    const body = String(response.body);
    expect(body).not.toContain('secret internals');
    expect(body).not.toContain('x.ts');
    const requestId = /request id ([\w-]+)/.exec(body)?.[1];
    expect(logged[0]).toMatchObject({ requestId, message: 'secret internals at /var/task/x.ts:12' });
  });
});

describe('looprail dev', () => {
  it('serves the API, writes its URL and token for the CLI, and cleans up on close', async () => {
    const state = await import('node:fs/promises').then((fs) => fs.mkdtemp(join(host.stateDir, 'dev-')));
    const lines: string[] = [];
    const dev = await startDevServer(
      {
        port: '0',
        org: 'test/fixtures/loop-org',
        stateDir: state,
        graceMs: 100,
        host: {
          dynamodbEndpoint: inject('dynamodbEndpoint'),
          tableName: `looprail-dev-${randomUUID()}`,
          retryIntervalMs: 0,
        },
      },
      { out: (line) => lines.push(line), err: (line) => lines.push(line) },
    );
    try {
      const file = JSON.parse(await readFile(join(state, DEV_FILE), 'utf8')) as { url: string; token: string };
      expect(file).toMatchObject({ url: dev.url, token: dev.token });
      const client = new LooprailClient(await resolveEndpoint({ stateDir: state }));
      const { run } = await client.startRun({ agent: 'typed-input', input: { repo: 'acme/dev' } });
      expect(run.principal).toMatch(/^local:/);
      for (let i = 0; i < 200 && !['finished', 'failed'].includes((await client.getRun(run.runId)).status); i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      // The CLI finds the dev server and shows the trace through the API, as it would a deployed stack's.
      const { execFile } = await import('node:child_process');
      const shown = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ['bin/looprail.js', 'trace', run.runId, '--state-dir', state],
          { env: { ...process.env, NO_COLOR: '1' } },
          (error, stdout) => (error ? reject(error) : resolve(stdout)),
        ),
      );
      expect(shown).toContain(`▶ typed-input · run ${run.runId} · api`);
      expect(shown).toMatch(/\n■ (completed|error) — /);
    } finally {
      await dev.close();
    }
    expect(existsSync(join(state, DEV_FILE))).toBe(false);
    await expect(resolveEndpoint({ stateDir: state })).rejects.toThrow(/looprail dev/);
  });
});

describe('the same app serves webhooks and costs', () => {
  it('starts a run from a signed webhook delivery without the API token, and refuses an unsigned one', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/shop' } });
    const delivery = randomUUID();
    const headers = { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery };
    const post = (extra: Record<string, string>) =>
      fetch(new URL('/webhooks/on-push', server.url), { method: 'POST', headers: { ...headers, ...extra }, body });
    const unsigned = await post({});
    expect(unsigned.status).toBe(401);
    const signed = await post({ 'x-hub-signature-256': githubSignature(WEBHOOK_SECRET, body) });
    expect(signed.status).toBe(202);
    const { runId } = (await signed.json()) as { runId: string };
    const run = await waitFor(runId);
    expect(run).toMatchObject({ stopReason: 'completed', trigger: { kind: 'webhook' } });
  });

  it('serves spend per agent from the daily rollups', async () => {
    const response = await call('GET', '/v1/costs?by=agent&days=1', { headers: auth });
    expect(response.status).toBe(200);
    const costs = (await response.json()) as {
      by: string;
      lines: Array<{ key: string; costMicros: number; calls: number }>;
    };
    expect(costs.by).toBe('agent');
    expect(costs.lines.find((line) => line.key === 'basic')!.calls).toBeGreaterThan(0);
  });
});
