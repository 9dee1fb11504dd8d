import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { githubSignature } from '../../core/policy/webhook-signature.ts';
import type { TriggerDeps } from '../../core/run/trigger.ts';
import { handleWebhook } from '../../functions/http/webhooks.ts';
import type { HttpRequest, HttpResponse } from '../../functions/http/types.ts';
import { recordingStarter, testHost } from '../support/local-host.ts';

/**
 * `POST /webhooks/:agent` against the local host: real GitHub example payloads, signed the
 * way GitHub signs them, starting real runs on DynamoDB Local through startRun.
 */

type Example = { name: string; examples: Array<Record<string, unknown>> };
const EXAMPLES = createRequire(import.meta.url)('@octokit/webhooks-examples') as Example[];
const pushToMaster = EXAMPLES.find((example) => example.name === 'push')!.examples.find(
  (payload) => payload.ref === 'refs/heads/master',
)!;
const pushToMain: Record<string, unknown> = { ...pushToMaster, ref: 'refs/heads/main' };

const SECRET = 'webhook-test-secret';
const AGENT = 'on-push';

let host: Awaited<ReturnType<typeof testHost>>;
let deps: TriggerDeps;
const secrets = new LocalSecretStore({ env: process.env });
let executions: Map<string, Promise<unknown>>;
let starts: string[];

beforeAll(async () => {
  vi.stubEnv('LOOPRAIL_SECRET_GITHUB_WEBHOOK_SECRET', SECRET);
  host = await testHost('test/fixtures/loop-org');
  const recorded = recordingStarter(host);
  ({ executions, starts } = recorded);
  deps = { ...host.deps, executions: recorded.starter };
});

afterAll(async () => {
  await Promise.allSettled(executions.values());
  await host?.close();
  vi.unstubAllEnvs();
});

function delivery(
  payload: unknown,
  options: { event?: string; id?: string; sign?: (body: Buffer) => string | undefined } = {},
): HttpRequest {
  const rawBody = Buffer.from(JSON.stringify(payload));
  const signature = options.sign ? options.sign(rawBody) : githubSignature(SECRET, rawBody);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/test',
    'x-github-event': options.event ?? 'push',
    'x-github-delivery': options.id ?? randomUUID(),
  };
  if (signature !== undefined) headers['x-hub-signature-256'] = signature;
  return { method: 'POST', path: `/webhooks/${AGENT}`, query: {}, headers, rawBody };
}

const body = (response: HttpResponse) => JSON.parse(String(response.body)) as Record<string, unknown>;
const post = (request: HttpRequest, agent = AGENT) => handleWebhook(deps, agent, request, { secrets });
const runsOfAgent = async () => (await host.deps.store.listRuns({ agent: AGENT, limit: 100 })).map((run) => run.runId);

describe('POST /webhooks/:agent', () => {
  it('starts a run for a valid delivery, and the run completes', async () => {
    const request = delivery(pushToMain, { id: 'delivery-1' });
    const response = await post(request);
    expect(response.status).toBe(202);
    const { runId } = body(response) as { runId: string };
    expect(runId).toMatch(/^r-/);
    await executions.get(runId);
    const run = await host.deps.store.getRun(runId);
    expect(run).toMatchObject({
      agent: AGENT,
      status: 'finished',
      stopReason: 'completed',
      principal: 'webhook:on-push',
      trigger: { kind: 'webhook', detail: 'push delivery-1' },
      untrusted: true,
    });
    expect(run!.input).toEqual(pushToMain);
  });

  it('answers a redelivery with the same run and starts nothing new', async () => {
    const before = await runsOfAgent();
    const startsBefore = starts.length;
    const first = body(await post(delivery(pushToMain, { id: 'delivery-2' })));
    await executions.get(first.runId as string);
    const again = await post(delivery(pushToMain, { id: 'delivery-2' }));
    expect(again.status).toBe(200);
    expect(body(again)).toEqual({ runId: first.runId, duplicate: true });
    expect(starts.length).toBe(startsBefore + 1);
    expect(await runsOfAgent()).toHaveLength(before.length + 1);
  });

  it('refuses a mis-signed, unsigned or wrong-secret delivery with 401 and records nothing', async () => {
    const before = await runsOfAgent();
    const cases = [
      delivery(pushToMain, { sign: () => undefined }),
      delivery(pushToMain, { sign: (raw) => githubSignature('not-the-secret', raw) }),
      delivery(pushToMain, { sign: (raw) => githubSignature(SECRET, raw).slice(0, 40) }),
      // Signed, then the body changed on the way.
      { ...delivery(pushToMain), rawBody: Buffer.from(JSON.stringify({ ...pushToMain, ref: 'refs/heads/evil' })) },
    ];
    for (const request of cases) {
      const response = await post(request);
      expect(response.status).toBe(401);
      expect(body(response).reason).toEqual(expect.any(String));
    }
    expect(await runsOfAgent()).toEqual(before);
  });

  it('answers a delivery the filter does not take with 202 and the reason, starting nothing', async () => {
    const before = await runsOfAgent();
    const toMaster = await post(delivery(pushToMaster));
    expect(toMaster.status).toBe(202);
    expect(body(toMaster)).toEqual({ started: false, reason: 'filtered out: branch "master" is not "main"' });
    const issue = await post(delivery({ action: 'opened', repository: pushToMain.repository }, { event: 'issues' }));
    expect(body(issue)).toEqual({ started: false, reason: 'filtered out: event "issues" is not "push"' });
    expect(await runsOfAgent()).toEqual(before);
  });

  it('refuses a body over 1 MB, and a payload over the run input limit, with 413', async () => {
    const before = await runsOfAgent();
    const huge = await post(delivery({ ...pushToMain, padding: 'x'.repeat(1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect(body(huge).reason).toMatch(/webhooks take at most 1048576/);
    const large = await post(delivery({ ...pushToMain, padding: 'x'.repeat(40 * 1024) }));
    expect(large.status).toBe(413);
    expect(body(large).reason).toMatch(/a run's input is limited to 32768 bytes/);
    expect(await runsOfAgent()).toEqual(before);
  });

  it('404 for an unknown agent or one without a webhook; 400 without a delivery id or with a body that is not JSON', async () => {
    expect((await post(delivery(pushToMain), 'nobody')).status).toBe(404);
    expect((await post(delivery(pushToMain), 'short')).status).toBe(404);
    expect((await post(delivery(pushToMain), '__proto__')).status).toBe(404);
    const noId = delivery(pushToMain);
    delete noId.headers['x-github-delivery'];
    expect(await post(noId)).toMatchObject({ status: 400 });
    expect(body(await post(noId)).reason).toMatch(/X-GitHub-Delivery/);
    const raw = Buffer.from('not json');
    const notJson = {
      ...delivery(pushToMain),
      rawBody: raw,
      headers: { ...delivery(pushToMain).headers, 'x-hub-signature-256': githubSignature(SECRET, raw) },
    };
    expect(await post(notJson)).toMatchObject({ status: 400 });
  });

  it('refuses a used delivery id with a different payload (409)', async () => {
    const first = await post(delivery(pushToMain, { id: 'delivery-3' }));
    await executions.get(body(first).runId as string);
    const reused = await post(delivery({ ...pushToMain, after: 'f'.repeat(40) }, { id: 'delivery-3' }));
    expect(reused.status).toBe(409);
    expect(body(reused).reason).toBe('delivery delivery-3 was already received with a different payload');
  });

  it('starts a delivery again whose first start failed (the run was left queued)', async () => {
    const failing: TriggerDeps = {
      ...deps,
      executions: { start: () => Promise.reject(new Error('Step Functions is unavailable')), stop: async () => {} },
    };
    const failed = await handleWebhook(failing, AGENT, delivery(pushToMain, { id: 'delivery-4' }), { secrets });
    expect(failed.status).toBe(503);
    const queued = (await runsOfAgent()).length;
    const retried = await post(delivery(pushToMain, { id: 'delivery-4' }));
    expect(retried.status).toBe(202);
    const { runId } = body(retried) as { runId: string };
    expect(body(retried)).toMatchObject({ duplicate: true, restarted: true });
    await executions.get(runId);
    expect(await host.deps.store.getRun(runId)).toMatchObject({ status: 'finished', stopReason: 'completed' });
    expect(await runsOfAgent()).toHaveLength(queued);
  });
});
