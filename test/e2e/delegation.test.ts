import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { runUsage, type RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { runToEnd, testHost } from '../support/local-host.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';

/**
 * Delegation: a maker hands tasks to declared sub-agents, each a run of its own (a nested
 * execution of the same state machine), linked to its parent, its cost rolled up apart.
 */

let host: LocalHost;
beforeAll(async () => {
  host = await testHost('test/fixtures/delegation-org');
});
afterAll(async () => {
  await host?.close();
});

const sum = (trace: TraceEvent[]) => trace.reduce((total, event) => total + event.costMicros, 0);

describe('delegating to sub-agents', () => {
  it('runs each sub-agent as a linked child run, returns its answer, and refuses undeclared sub-agents and recursion past max_depth', async () => {
    const root = await runToEnd(host, 'lead', { task: 'Plan the release.' });
    expect(root.meta).toMatchObject({ stopReason: 'completed', toolCalls: 0 });
    const store = host.deps.store;

    // The root: two delegations that ran, one refused because it names no declared sub-agent.
    const delegations = root.trace.filter((e) => e.kind === 'delegation');
    expect(delegations.map((e) => [e.name, e.status, e.stopReason])).toEqual([
      ['researcher', 'ok', 'completed'],
      ['deputy', 'ok', 'completed'],
    ]);
    const refused = root.trace.filter((e) => e.kind === 'tool_denied');
    expect(refused.map((e) => e.detail)).toEqual([
      'refused: "ghost" is not a sub-agent lead declares (it may delegate to: researcher, deputy)',
    ]);

    // The researcher: its own model and instructions, linked to the root, at depth 1.
    const researcher = (await store.getRun(delegations[0]!.childRunId!))!;
    expect(researcher).toMatchObject({
      agent: 'lead',
      subagent: 'researcher',
      role: 'maker',
      parentRunId: root.runId,
      depth: 1,
      trigger: { kind: 'subagent' },
      input: { task: "Summarise last week's release notes." },
    });
    const researcherState = (await store.loadState(researcher.runId))!;
    expect(researcherState.context!.view.model.name).toBe('s-researcher');
    expect(researcherState.context!.systemPrompt).toContain('Research what you are asked');
    // It got the task, not the lead's conversation.
    expect(JSON.stringify(researcherState.messages)).not.toContain('Plan the release.');

    // Its answer is the tool result the lead read.
    const results = root.messages.filter((m) => m.role === 'tool').flatMap((m) => m.content) as Array<{
      content: string;
      isError: boolean;
    }>;
    expect(results[0]).toMatchObject({
      isError: false,
      content: 'researcher finished (completed). Its answer:\n\nSummary: two fixes and one feature shipped last week.',
    });

    // The deputy is the lead agent again, one level down; its own deputy is two down, where delegation stops.
    const deputy = (await store.getRun(delegations[1]!.childRunId!))!;
    expect(deputy).toMatchObject({ agent: 'lead', parentRunId: root.runId, depth: 1, stopReason: 'completed' });
    expect(deputy.subagent).toBeUndefined();
    const deputyTrace = await store.listTrace(deputy.runId);
    const deepest = (await store.getRun(deputyTrace.filter((e) => e.kind === 'delegation')[1]!.childRunId!))!;
    expect(deepest).toMatchObject({ parentRunId: deputy.runId, depth: 2, stopReason: 'completed' });
    const deepestTrace = await store.listTrace(deepest.runId);
    expect(deepestTrace.filter((e) => e.kind === 'delegation')).toEqual([]);
    expect(deepestTrace.filter((e) => e.kind === 'tool_denied').map((e) => e.detail)).toEqual([
      'refused: delegating to "researcher" would start a run at depth 3, past this agent\'s limit of 2 (harness.max_depth)',
      'refused: delegating to "deputy" would start a run at depth 3, past this agent\'s limit of 2 (harness.max_depth)',
      'refused: "ghost" is not a sub-agent lead declares (it may delegate to: researcher, deputy)',
    ]);

    // Costs: each run's totals are the exact sum of its trace, its sub-agents' shown apart.
    for (const run of [root.meta, deputy, deepest, researcher] as RunMeta[]) {
      expect(runUsage(run).costMicros).toBe(sum(await store.listTrace(run.runId)));
    }
    expect(root.meta.subagentUsage!.costMicros).toBe(runUsage(researcher).costMicros + runUsage(deputy).costMicros);
    expect(root.meta.subagentUsage!.costMicros).toBeGreaterThan(0);
    expect(runUsage(root.meta).costMicros).toBe(root.meta.usage.costMicros + root.meta.subagentUsage!.costMicros);
  });
});

describe('the checker', () => {
  it('runs as its own execution of the state machine, linked to the maker run it checks', async () => {
    const lines: string[] = [];
    const checked = await testHost('test/fixtures/loop-org', { log: jsonLogger('info', (line) => lines.push(line)) });
    try {
      const { runId, meta } = await runToEnd(checked, 'basic');
      expect(meta.stopReason).toBe('verified');
      const steps = lines
        .map((line) => JSON.parse(line) as { runId?: string; step?: string })
        .filter((line) => line.runId === `${runId}-check1`)
        .map((line) => line.step);
      // StartRun replays the start Verify committed; then the checker's own ModelStep(s) and FinishRun run as states.
      expect(steps[0]).toBe('StartRun');
      expect(steps).toContain('ModelStep');
      expect(steps.at(-1)).toBe('FinishRun');
      expect(await checked.deps.store.getRun(`${runId}-check1`)).toMatchObject({
        role: 'checker',
        parentRunId: runId,
        status: 'finished',
      });
    } finally {
      await checked.close();
    }
  });
});

describe('a host without the in-process children port (as on AWS)', () => {
  it('runs each sub-agent through the ASL Delegate state (startExecution.sync:2)', async () => {
    const bare = await testHost('test/fixtures/delegation-org', {
      wrapDeps: (deps) => ({ ...deps, children: undefined }),
    });
    try {
      const root = await runToEnd(bare, 'lead', { task: 'Plan the release.' });
      expect(root.meta).toMatchObject({ stopReason: 'completed', toolCalls: 0 });
      expect(root.meta.turn?.delegatedRuns).toBeUndefined();
      const store = bare.deps.store;
      // The same outcomes as the in-process path: two delegations that ran, one refused.
      const delegations = root.trace.filter((e) => e.kind === 'delegation');
      expect(delegations.map((e) => [e.name, e.status, e.stopReason])).toEqual([
        ['researcher', 'ok', 'completed'],
        ['deputy', 'ok', 'completed'],
      ]);
      expect(root.trace.filter((e) => e.kind === 'tool_denied').map((e) => e.detail)).toEqual([
        'refused: "ghost" is not a sub-agent lead declares (it may delegate to: researcher, deputy)',
      ]);
      const results = root.messages.filter((m) => m.role === 'tool').flatMap((m) => m.content) as Array<{
        content: string;
        isError: boolean;
      }>;
      expect(results[0]).toMatchObject({
        isError: false,
        content:
          'researcher finished (completed). Its answer:\n\nSummary: two fixes and one feature shipped last week.',
      });

      // Each child ran as its own execution through the Delegate state, one at a time, the ToolStep writing the turn once all had.
      const states = root.outcome!.statesEntered;
      expect(states.filter((state) => state === 'Delegate').length).toBeGreaterThanOrEqual(2);
      const first = states.indexOf('Delegate');
      // The ToolStep hands the child over, ModelStep passes it on, the child's execution runs apart, and the ToolStep comes back.
      expect(states.slice(first - 3, first + 3)).toEqual([
        'ToolStep',
        'ModelStep',
        'Route',
        'Delegate',
        'Delegated',
        'ToolStep',
      ]);
      const researcher = (await store.getRun(delegations[0]!.childRunId!))!;
      expect(researcher).toMatchObject({
        subagent: 'researcher',
        parentRunId: root.runId,
        depth: 1,
        status: 'finished',
      });
      const deputy = (await store.getRun(delegations[1]!.childRunId!))!;
      const deputyTrace = await store.listTrace(deputy.runId);
      const deepest = (await store.getRun(deputyTrace.filter((e) => e.kind === 'delegation')[1]!.childRunId!))!;
      expect(deepest).toMatchObject({ parentRunId: deputy.runId, depth: 2, stopReason: 'completed' });

      // Costs roll up the same way: each run's totals are the exact sum of its trace.
      for (const run of [root.meta, deputy, deepest, researcher] as RunMeta[]) {
        expect(runUsage(run).costMicros).toBe(sum(await store.listTrace(run.runId)));
      }
      expect(root.meta.subagentUsage!.costMicros).toBe(runUsage(researcher).costMicros + runUsage(deputy).costMicros);
      // Payloads stay ids and control fields.
      expect(root.outcome!.largestPayloadBytes).toBeLessThan(400);
    } finally {
      await bare.close();
    }
    // A child that fails is the parent's tool result, not the parent's failure.
    let failing: LocalHost | undefined;
    const broken = await testHost('test/fixtures/delegation-org', {
      wrapDeps: (deps) => ({ ...deps, children: undefined }),
      wrapHandlers: (handlers) => ({
        ...handlers,
        async ModelStep(payload) {
          const meta = await failing!.deps.store.getRun((payload as { runId: string }).runId);
          if (meta?.subagent === 'researcher')
            throw Object.assign(new Error('the researcher broke'), { name: 'looprail.Broken' });
          return handlers.ModelStep(payload);
        },
      }),
    });
    failing = broken;
    try {
      const root = await runToEnd(broken, 'lead', { task: 'Plan the release.' });
      expect(root.meta).toMatchObject({ stopReason: 'completed', status: 'finished' });
      const delegations = root.trace.filter((e) => e.kind === 'delegation');
      expect(delegations.map((e) => [e.name, e.status, e.stopReason])).toEqual([
        ['researcher', 'error', 'error'],
        ['deputy', 'ok', 'completed'],
      ]);
      const results = root.messages.filter((m) => m.role === 'tool').flatMap((m) => m.content) as Array<{
        content: string;
        isError: boolean;
      }>;
      expect(results[0]).toMatchObject({ isError: true });
      expect(results[0]!.content).toContain('researcher did not complete the task (error: looprail.Broken');
      expect(await broken.deps.store.getRun(delegations[0]!.childRunId!)).toMatchObject({
        status: 'failed',
        parentRunId: root.runId,
      });
    } finally {
      await broken.close();
    }
  });

  it('runs the checker as its own execution through the same Delegate state, then back to Verify, with the in-process verdicts and costs', async () => {
    const nested = await testHost('test/fixtures/loop-org');
    const bare = await testHost('test/fixtures/loop-org', { wrapDeps: (deps) => ({ ...deps, children: undefined }) });
    try {
      const summary = async (host: LocalHost, runId: string, meta: RunMeta) => {
        const trace = await host.deps.store.listTrace(runId);
        const checks = [];
        for (const event of trace.filter((e) => e.kind === 'verification')) {
          const checker = (await host.deps.store.getRun(event.childRunId!))!;
          checks.push({
            status: event.status,
            attempt: event.attempt,
            costMicros: event.costMicros,
            detail: event.detail,
            childRunId: event.childRunId!.slice(runId.length),
            checker: {
              role: checker.role,
              parentRunId: checker.parentRunId === runId,
              status: checker.status,
              stopReason: checker.stopReason,
              verdict: checker.verdict,
              usage: checker.usage,
            },
          });
        }
        const messages = (await host.deps.store.loadState(runId))!.messages.map((m) => JSON.stringify(m.content));
        return {
          stopReason: meta.stopReason,
          stopDetail: meta.stopDetail,
          verifyAttempts: meta.verifyAttempts,
          usage: meta.usage,
          checkerUsage: meta.checkerUsage,
          total: runUsage(meta).costMicros,
          traced: sum(trace),
          delegatedRuns: meta.turn?.delegatedRuns,
          checks,
          messages,
        };
      };
      for (const agent of ['basic', 'never-satisfied']) {
        const inProcess = await runToEnd(nested, agent);
        const handedOver = await runToEnd(bare, agent);
        const expected = await summary(nested, inProcess.runId, inProcess.meta);
        const actual = await summary(bare, handedOver.runId, handedOver.meta);
        // The same verdicts, feedback, attempts and costs as the nested execution's; the checker linked to its parent.
        expect(actual, agent).toEqual(expected);
        expect(actual.stopReason, agent).toBe(agent === 'basic' ? 'verified' : 'verification_failed');
        expect(actual.checks.length, agent).toBe(actual.verifyAttempts);
        expect(actual.checks.map((check) => check.status).at(-1), agent).toBe(agent === 'basic' ? 'pass' : 'fail');
        expect(
          actual.checks.every(
            (check) =>
              check.checker.role === 'checker' && check.checker.parentRunId && check.checker.status === 'finished',
          ),
          agent,
        ).toBe(true);
        expect(actual.total).toBe(actual.traced);
        expect(actual.delegatedRuns).toBeUndefined();

        // Verify hands the checker over (Route → Delegate), the Delegated choice brings the run back to Verify.
        const states = handedOver.outcome!.statesEntered;
        const handOvers = states.flatMap((state, i) =>
          state === 'Delegate' ? [states.slice(i - 2, i + 3).join('>')] : [],
        );
        expect(handOvers, agent).toEqual(actual.checks.map(() => 'Verify>Route>Delegate>Delegated>Verify'));
        // The in-process path never enters them; the ordinary loop is unchanged.
        expect(inProcess.outcome!.statesEntered).not.toContain('Delegate');
        expect(handedOver.outcome!.largestPayloadBytes, agent).toBeLessThan(400);
      }
    } finally {
      await nested.close();
      await bare.close();
    }
  });
});
