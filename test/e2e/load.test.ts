import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { periodKey } from '../../core/budgets/periods.ts';
import type { RuntimeEvent } from '../../core/ports/events.ts';
import { testHost } from '../support/local-host.ts';

/**
 * Load: a hundred concurrent runs of a three-turn loop with two tool calls each (a real
 * MCP server), charging two shared budgets on DynamoDB Local. Throughput is printed, not
 * asserted (npm run bench measures; the machines here are shared).
 */

const RUNS = 100;
let host: LocalHost;
const events: RuntimeEvent[] = [];
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org', {
    wrapDeps: (deps) => ({ ...deps, events: { publish: async (event) => void events.push(event) } }),
  });
});
afterAll(async () => {
  await host?.close();
});

describe(`${RUNS} concurrent runs against shared budgets`, () => {
  it('all complete, with budget and rollup totals exactly the sum of their traces and no trace event lost', async () => {
    const started = performance.now();
    const runs = await Promise.all(
      Array.from({ length: RUNS }, (_, i) => host.run({ agent: 'crowd', input: { n: i } })),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `load: ${RUNS} runs (3 model calls, 2 tool calls each) in ${seconds.toFixed(1)} s: ${(RUNS / seconds).toFixed(1)} runs/s, ${((RUNS * 5) / seconds).toFixed(0)} calls/s`,
    );

    expect(
      runs
        .filter((run) => run.meta.stopReason !== 'completed')
        .map((run) => `${run.meta.stopReason}: ${run.meta.stopDetail}`),
    ).toEqual([]);
    expect(new Set(runs.map((run) => run.runId)).size).toBe(RUNS);

    let traced = 0;
    for (const run of runs) {
      const trace = await host.deps.store.listTrace(run.runId);
      const kinds = trace.map((event) => event.kind);
      expect(
        kinds.filter((kind) => kind === 'model_call'),
        run.runId,
      ).toHaveLength(3);
      expect(
        kinds.filter((kind) => kind === 'tool_call'),
        run.runId,
      ).toHaveLength(2);
      expect(kinds[0]).toBe('run_started');
      expect(kinds.at(-1)).toBe('run_finished');
      const cost = trace
        .filter((event) => event.kind === 'model_call')
        .reduce((sum, event) => sum + event.costMicros, 0);
      expect(run.meta.usage.costMicros).toBe(cost);
      traced += cost;
      const state = await host.deps.store.loadState(run.runId);
      expect(state!.messages.map((message) => message.role)).toEqual([
        'user',
        'assistant',
        'tool',
        'assistant',
        'tool',
        'assistant',
      ]);
    }

    const day = periodKey('day', new Date());
    const team = await host.deps.store.getBudgetUsage('team', 'crowd', day);
    const agent = await host.deps.store.getBudgetUsage('agent', 'crowd', day);
    for (const usage of [team, agent]) {
      expect(usage.spentMicros).toBe(traced);
      expect(usage.usedMicros).toBe(usage.spentMicros);
    }
    const today = new Date().toISOString().slice(0, 10);
    const rollup = (await host.deps.store.listRollups('agent', today, today)).find((row) => row.key === 'crowd')!;
    expect(rollup.costMicros).toBe(traced);
    expect(rollup.calls).toBe(RUNS * 3);
    // However many calls crossed it at once, the 1% threshold alerted once.
    expect(
      events.filter(
        (event) => event.type === 'looprail.budget.threshold' && event.detail.budget === 'crowd-agent-daily',
      ),
    ).toHaveLength(1);
    expect(events.filter((event) => event.type === 'looprail.run.finished' && event.agent === 'crowd')).toHaveLength(
      RUNS,
    );
  }, 600_000);
});
