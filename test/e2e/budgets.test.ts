import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { periodKey } from '../../core/budgets/periods.ts';
import { ConcurrencyLimitError } from '../../core/errors.ts';
import { approveCalls } from '../../core/run/approval.ts';
import type { RuntimeEvent } from '../../core/ports/events.ts';
import { testHost } from '../support/local-host.ts';

/**
 * Budgets across runs, on DynamoDB Local: each model call reserves its worst case against
 * every budget that applies, in one transaction, and settles the actual cost after. Many
 * runs race for one small team budget.
 */

let host: LocalHost;
const events: RuntimeEvent[] = [];
const posts: Array<{ url: string; body: Record<string, unknown> }> = [];
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org', {
    wrapDeps: (deps) => ({
      ...deps,
      events: { publish: async (event) => void events.push(event) },
      webhooks: { post: async (url, body) => void posts.push({ url, body }) },
    }),
  });
});
afterAll(async () => {
  await host?.close();
});

describe('a team budget shared by 50 concurrent runs', () => {
  it('is never overspent, and its total is exactly the sum of the calls the runs made', async () => {
    const runs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => host.run({ agent: 'spender', input: { n: i } })),
    );
    const reasons = runs.map((r) => r.meta.stopReason);
    // $0.05 holds a few of these runs (about $0.005 each); the rest stop before a call they could not afford.
    expect(reasons.filter((r) => r === 'budget_exhausted').length).toBeGreaterThan(0);
    expect(reasons.every((r) => r === 'completed' || r === 'budget_exhausted')).toBe(true);
    for (const run of runs.filter((r) => r.meta.stopReason === 'budget_exhausted')) {
      expect(run.meta.stopDetail).toMatch(
        /^(looprail\.BudgetContended: )?budget spenders-daily \(team spenders, day \d{4}-\d{2}-\d{2}, limit \$0\.05\)/,
      );
    }

    let traced = 0;
    for (const run of runs) {
      const trace = await host.deps.store.listTrace(run.runId);
      traced += trace.filter((e) => e.kind === 'model_call').reduce((sum, e) => sum + e.costMicros, 0);
    }
    const usage = await host.deps.store.getBudgetUsage('team', 'spenders', periodKey('day', new Date()));
    expect(usage.spentMicros).toBe(traced);
    // Every reservation was settled: nothing is held back.
    expect(usage.usedMicros).toBe(usage.spentMicros);
    expect(usage.spentMicros).toBeLessThanOrEqual(50_000);
    // Nothing is stopped for another run's hold: a run stops only when what is *spent* leaves
    // no room for its next call, so the budget ends used up to within one call's worst case
    // (about $0.0046 here; each stop says its own, to the 1/100 cent), not starved by
    // reservations that settled for less.
    const spendStops = runs.filter(
      (r) => r.meta.stopReason === 'budget_exhausted' && !r.meta.stopDetail?.startsWith('looprail.BudgetContended'),
    );
    const worstCases = spendStops.map(
      (r) => Number(/could cost up to \$(\d+\.\d+)/.exec(r.meta.stopDetail ?? '')?.[1] ?? 0) * 1e6,
    );
    expect(Math.max(...worstCases)).toBeGreaterThan(0);
    expect(usage.spentMicros).toBeGreaterThan(50_000 - Math.max(...worstCases) - 100);
  }, 180_000);

  it('alerted once per threshold crossed, to every destination, however many calls crossed it', async () => {
    const alerts = events.filter((event) => event.type === 'looprail.budget.threshold');
    const thresholds = alerts.map((event) => event.detail.threshold as number).sort();
    // How far the race got depends on how many reservations were held at once: the alerts follow the final spend.
    const spent = (await host.deps.store.getBudgetUsage('team', 'spenders', periodKey('day', new Date()))).spentMicros;
    expect(thresholds).toEqual([0.5, 0.8, 1].filter((threshold) => spent >= threshold * 50_000));
    expect(thresholds.length).toBeGreaterThan(0);
    expect(posts.map((post) => post.url)).toEqual(alerts.map(() => 'http://127.0.0.1:9/hooks/budget-alerts'));
    expect(String(posts[0]!.body.text)).toMatch(
      /^looprail: budget spenders-daily \(team spenders, day .*\) has reached 50% \(\$0\.0\d+ of \$0\.05\)/,
    );
    // Runs announce themselves too: one finished event per run.
    expect(events.filter((event) => event.type === 'looprail.run.finished' && event.agent === 'spender')).toHaveLength(
      50,
    );
  });

  it('rolls spend up per day by agent, team, model and principal, in the same writes', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const agents = await host.deps.store.listRollups('agent', today, today);
    const teams = await host.deps.store.listRollups('team', today, today);
    const spent = (await host.deps.store.getBudgetUsage('team', 'spenders', periodKey('day', new Date()))).spentMicros;
    expect(agents.find((row) => row.key === 'spender')!.costMicros).toBe(spent);
    expect(teams.find((row) => row.key === 'spenders')!.costMicros).toBe(spent);
    expect(
      (await host.deps.store.listRollups('model', today, today)).find((row) => row.key === 's-spender')!.calls,
    ).toBeGreaterThan(0);
  });
});

describe('rate and concurrency limits per agent', () => {
  it('refuses a trigger beyond max_concurrent_runs with a clear reason, and frees the slot when the run ends', async () => {
    const first = host.run({ agent: 'solo', input: {} });
    for (
      let i = 0;
      i < 100 && !(await host.deps.store.listRuns({ agent: 'solo' })).some((r) => r.status === 'running');
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const refused = await host.run({ agent: 'solo', input: {} }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConcurrencyLimitError);
    expect((refused as Error).message).toBe(
      'agent "solo" already has 1 run in flight (max_concurrent_runs: 1); this trigger was refused',
    );
    expect((await first).meta.stopReason).toBe('completed');
    expect((await host.run({ agent: 'solo', input: {} })).meta.stopReason).toBe('completed');
    // The refused trigger left no run behind.
    expect(await host.deps.store.listRuns({ agent: 'solo' })).toHaveLength(2);
  });

  // A clock held in the middle of one minute: the window must not turn over during the test.
  let rateHost: LocalHost;
  beforeAll(async () => {
    const held = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 30_000);
    rateHost = await testHost('test/fixtures/loop-org', {
      wrapDeps: (deps) => ({ ...deps, clock: { now: () => held } }),
    });
  });
  afterAll(async () => {
    await rateHost?.close();
  });

  it('stops rate_limited past requests_per_minute when the agent says stop', async () => {
    const { meta } = await rateHost.run({ agent: 'hasty', input: {} });
    expect(meta).toMatchObject({ stopReason: 'rate_limited', modelCalls: 2 });
    expect(meta.stopDetail).toBe('agent hasty made its 2 model requests this minute (budgets.yaml limits)');
  });

  it('waits (the step is retried with backoff) past requests_per_minute, and stops rate_limited if it never clears', async () => {
    const { meta, outcome } = await rateHost.run({ agent: 'patient', input: {} });
    // Locally the retries do not wait, so the minute never turns over.
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'rate_limited', modelCalls: 2 });
    expect(outcome!.statesEntered.filter((state) => state === 'ModelStep').length).toBe(3);
  });
});

describe('a budget that pauses instead of stopping', () => {
  it('asks a human for "+$N to continue", and the approved run goes on past the limit by at most that much', async () => {
    const running = host.run({ agent: 'patron', input: {} });
    let paused;
    for (let i = 0; i < 200 && !paused; i++) {
      paused = (await host.deps.store.listRuns({ agent: 'patron' })).find((r) => r.status === 'paused');
      if (!paused) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const approval = await host.deps.store.getApproval(paused!.pendingApprovalId!);
    expect(approval!.budget).toEqual({ name: 'patrons-daily', amountMicros: expect.any(Number) });
    expect(approval!.reasons[0]).toMatch(
      /^budget patrons-daily \(team patrons, day .*, limit \$0\.004\) is exhausted: approve \+\$0\.\d+ for this run to continue$/,
    );
    const { taskToken, output } = await approveCalls(host.deps, approval!.approvalId);
    host.executor.sendTaskSuccess(taskToken, output);
    const { meta } = await running;
    expect(meta.budgetAllowances).toEqual({ 'patrons-daily': approval!.budget!.amountMicros });
    const usage = await host.deps.store.getBudgetUsage('team', 'patrons', periodKey('day', new Date()));
    expect(usage.spentMicros).toBeLessThanOrEqual(4_000 + approval!.budget!.amountMicros);
    expect(meta.stopReason).toBe('completed');
  });
});
