import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { LocalScheduler, type Timers } from '../../cli/local/scheduler.ts';
import { looprailSignature, REPLAY_WINDOW_SECONDS } from '../../core/policy/webhook-signature.ts';
import type { Clock } from '../../core/ports/clock.ts';
import type { TriggerDeps } from '../../core/run/trigger.ts';
import { eventHandler } from '../../functions/trigger/event.ts';
import { scheduleHandler } from '../../functions/trigger/schedule.ts';
import { handleWebhook } from '../../functions/http/webhooks.ts';
import type { HttpRequest, HttpResponse } from '../../functions/http/types.ts';
import { recordingStarter, testHost } from '../support/local-host.ts';

/**
 * The schedule and event handlers, the local scheduler and the generic webhook scheme,
 * each starting real runs through startRun on DynamoDB Local.
 */

const SECRET = 'signal-test-secret';
let host: Awaited<ReturnType<typeof testHost>>;
let deps: TriggerDeps;
let executions: Map<string, Promise<unknown>>;

beforeAll(async () => {
  vi.stubEnv('LOOPRAIL_SECRET_SIGNAL_WEBHOOK_SECRET', SECRET);
  host = await testHost('test/fixtures/loop-org');
  const recorded = recordingStarter(host);
  executions = recorded.executions;
  deps = { ...host.deps, executions: recorded.starter };
});

afterAll(async () => {
  await Promise.allSettled(executions.values());
  await host?.close();
  vi.unstubAllEnvs();
});

const runsOf = async (agent: string) => host.deps.store.listRuns({ agent, limit: 100 });

describe('schedule handler', () => {
  it('starts one run per scheduled time, however often Scheduler retries it', async () => {
    const handler = scheduleHandler(() => deps);
    const first = await handler({ agent: 'nightly', scheduledTime: '2025-03-03T05:00:00Z' });
    expect(first).toMatchObject({ started: true, created: true });
    const retry = await handler({ agent: 'nightly', scheduledTime: '2025-03-03T05:00:00.000Z' });
    expect(retry).toEqual({ ...first, created: false });
    const runId = (first as { runId: string }).runId;
    await executions.get(runId);
    expect(await host.deps.store.getRun(runId)).toMatchObject({
      status: 'finished',
      stopReason: 'completed',
      principal: 'schedule:nightly',
      trigger: { kind: 'schedule', detail: '2025-03-03T05:00:00.000Z' },
      input: { scheduledTime: '2025-03-03T05:00:00.000Z' },
    });
  });

  it('returns, rather than throws, what a retry cannot fix (Lambda would retry a throw)', async () => {
    const handler = scheduleHandler(() => deps);
    expect(await handler({ agent: 'nightly' })).toMatchObject({
      started: false,
      reason: expect.stringContaining('scheduledTime'),
    });
    expect(await handler({ agent: 'nobody', scheduledTime: '2025-03-03T05:00:00Z' })).toMatchObject({
      started: false,
      reason: expect.stringContaining('unknown agent "nobody"'),
    });
  });

  it('throws what a retry may fix (the execution could not start)', async () => {
    const failing = scheduleHandler(() => ({
      ...deps,
      executions: { start: () => Promise.reject(new Error('throttled')), stop: async () => {} },
    }));
    await expect(failing({ agent: 'nightly', scheduledTime: '2025-03-04T05:00:00Z' })).rejects.toThrow('throttled');
    // The retry (Lambda's own) finds the queued run and starts it.
    const retried = await scheduleHandler(() => deps)({ agent: 'nightly', scheduledTime: '2025-03-04T05:00:00Z' });
    expect(retried).toMatchObject({ started: true, created: false });
    await executions.get((retried as { runId: string }).runId);
    expect(await host.deps.store.getRun((retried as { runId: string }).runId)).toMatchObject({ status: 'finished' });
  });
});

describe('event handler', () => {
  it('starts one run per event id with the detail as input', async () => {
    const handler = eventHandler(() => deps);
    const event = {
      agent: 'nightly',
      id: 'ev-1',
      source: 'acme.deploy',
      'detail-type': 'Deployment Finished',
      detail: { service: 'shop' },
      time: '2025-03-03T05:00:00Z',
    };
    const first = await handler(event);
    const again = await handler(event);
    expect(first).toMatchObject({ started: true, created: true });
    expect(again).toMatchObject({ started: true, created: false, runId: (first as { runId: string }).runId });
    const runId = (first as { runId: string }).runId;
    await executions.get(runId);
    expect(await host.deps.store.getRun(runId)).toMatchObject({
      status: 'finished',
      principal: 'event:nightly',
      trigger: { kind: 'event', detail: 'acme.deploy Deployment Finished ev-1' },
      input: { source: 'acme.deploy', 'detail-type': 'Deployment Finished', detail: { service: 'shop' } },
      untrusted: true,
    });
  });
});

describe('the local scheduler starting runs', () => {
  it('fires the schedule into the same start path as Scheduler, once per scheduled time', async () => {
    let now = Date.parse('2025-03-05T04:59:50Z');
    const clock: Clock = { now: () => new Date(now) };
    const pending: Array<{ due: number; callback: () => void }> = [];
    const timers: Timers = {
      setTimeout: (callback, ms) => pending.push({ due: now + ms, callback }),
      clearTimeout: () => {},
    };
    const handler = scheduleHandler(() => deps);
    const fired: Array<Promise<unknown>> = [];
    const scheduler = new LocalScheduler({
      catalog: host.catalog,
      clock,
      timers,
      fire: async (agent, scheduledTime) => {
        const result = handler({ agent, scheduledTime });
        fired.push(result);
        await result;
      },
    });
    expect(scheduler.list().find((entry) => entry.agent === 'nightly')).toEqual({
      agent: 'nightly',
      expression: 'cron(0 6 ? * MON-FRI *)',
      timezone: 'Europe/Paris',
      next: '2025-03-05T05:00:00.000Z',
    });
    now += 10_000;
    for (const timer of pending.splice(0)) timer.callback();
    await scheduler.stop();
    const [result] = (await Promise.all(fired)) as Array<{ runId: string }>;
    await executions.get(result!.runId);
    const run = await host.deps.store.getRun(result!.runId);
    expect(run).toMatchObject({
      status: 'finished',
      trigger: { kind: 'schedule', detail: '2025-03-05T05:00:00.000Z' },
    });
    // The same firing from Scheduler (a deployed twin, or a retry) finds the same run.
    expect(await handler({ agent: 'nightly', scheduledTime: '2025-03-05T05:00:00Z' })).toMatchObject({
      runId: result!.runId,
      created: false,
    });
  });
});

describe('generic webhook scheme (hmac-sha256)', () => {
  const secrets = new LocalSecretStore({ env: process.env });
  const nowSeconds = () => Math.floor(host.deps.clock.now().getTime() / 1000);
  function signed(
    payload: unknown,
    options: { timestamp?: number; delivery?: string; event?: string; secret?: string } = {},
  ): HttpRequest {
    const rawBody = Buffer.from(JSON.stringify(payload));
    const timestamp = options.timestamp ?? nowSeconds();
    return {
      method: 'POST',
      path: '/webhooks/on-signal',
      query: {},
      headers: {
        'content-type': 'application/json',
        'x-looprail-event': options.event ?? 'deploy',
        'x-looprail-delivery': options.delivery ?? `d-${Math.random()}`,
        'x-looprail-timestamp': String(timestamp),
        'x-looprail-signature': looprailSignature(options.secret ?? SECRET, timestamp, rawBody),
      },
      rawBody,
    };
  }
  const post = (request: HttpRequest) => handleWebhook(deps, 'on-signal', request, { secrets });
  const body = (response: HttpResponse) => JSON.parse(String(response.body)) as Record<string, unknown>;

  it('starts a run for a fresh, signed delivery and answers its redelivery as a duplicate', async () => {
    const request = signed({ service: 'shop', version: '1.2.3' }, { delivery: 'sig-1' });
    const response = await post(request);
    expect(response.status).toBe(202);
    const { runId } = body(response) as { runId: string };
    await executions.get(runId);
    expect(await host.deps.store.getRun(runId)).toMatchObject({
      status: 'finished',
      trigger: { kind: 'webhook', detail: 'deploy sig-1' },
      principal: 'webhook:on-signal',
    });
    expect(body(await post(request))).toEqual({ runId, duplicate: true });
  });

  it('refuses a stale (replayed) or future timestamp, and another secret, with 401, storing nothing', async () => {
    const before = (await runsOf('on-signal')).length;
    const stale = await post(signed({ service: 'shop' }, { timestamp: nowSeconds() - REPLAY_WINDOW_SECONDS - 60 }));
    expect(stale.status).toBe(401);
    expect(body(stale).reason).toMatch(/^stale delivery/);
    expect(
      (await post(signed({ service: 'shop' }, { timestamp: nowSeconds() + REPLAY_WINDOW_SECONDS + 60 }))).status,
    ).toBe(401);
    expect((await post(signed({ service: 'shop' }, { secret: 'guess' }))).status).toBe(401);
    expect(await runsOf('on-signal')).toHaveLength(before);
  });

  it('needs X-Looprail-Delivery, and filters on X-Looprail-Event', async () => {
    const noDelivery = signed({ service: 'shop' });
    delete noDelivery.headers['x-looprail-delivery'];
    expect(body(await post(noDelivery)).reason).toMatch(/X-Looprail-Delivery/);
    expect(body(await post(signed({ service: 'shop' }, { event: 'build' })))).toEqual({
      started: false,
      reason: 'filtered out: event "build" is not one of "deploy", "rollback"',
    });
  });
});
