import { AsyncLocalStorage } from 'node:async_hooks';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinition } from '../../cli/local/executor.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import { periodKey } from '../../core/budgets/periods.ts';
import type { Message } from '../../core/definitions/messages.ts';
import { STEP_FUNCTION_NAMES, type StepFunctionName } from '../../core/definitions/steps.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import { approveCalls } from '../../core/run/approval.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { testHost } from '../support/local-host.ts';

/**
 * A crash at every step boundary of every Task state the state machine runs a handler for.
 *
 * The states come from the ASL itself, so a new Task state without a case here fails the
 * table test. Each handler's writes to the store are counted in an undisturbed run; then,
 * for the first step each state runs, the handler "crashes" (Lambda.Unknown, which the
 * ASL's Retry handles) before each of its writes, right after each of its writes, and
 * after all of them, just before it returns. Every disturbed run is compared with the
 * undisturbed one: messages, trace events (times and ids aside), the run's totals, the
 * checker runs, the budget and rollup totals it added, and what the recording MCP server
 * (test/fixtures/faults-org/counter-server.mjs) received. A crash between a side effect's
 * claim and its recorded outcome is the one place where the run cannot know whether the
 * call acted: there the call is never repeated (the server got it at most once) and the
 * model is told it is in doubt; everything else still matches.
 */

const ORG = 'test/fixtures/faults-org';
/** The store's methods that write; every other public method must be a read (checked below). */
const WRITES = [
  'createRun',
  'commit',
  'putApproval',
  'renewApprovalToken',
  'settleApproval',
  'addApprover',
  'claimApprovalAction',
  'takeRateToken',
  'reserveBudget',
  'settleBudget',
  'releaseBudget',
  'claimAlert',
  'claimSideEffect',
  'completeSideEffect',
] as const;
const READS = [
  'getRun',
  'loadState',
  'listTrace',
  'listTracePage',
  'listMessagesPage',
  'listRuns',
  'getApproval',
  'getBudgetUsage',
  'listRollups',
];
type WriteName = (typeof WRITES)[number];

/** Where a crash happens within one step of one state's handler. */
interface Point {
  state: string;
  /** `maker`, or `-check1`… for a checker run's own steps (its own execution, started by Verify). */
  role: string;
  /** The step, by the run seq its payload carries (0 for StartRun and FailRun): retries of it share it. */
  seq: number;
  /** before write n (1-based), after write n, or on return after all writes. */
  at: { when: 'before' | 'after'; write: number } | { when: 'return' };
}

interface Invocation {
  state: string;
  role: string;
  seq: number;
  writes: WriteName[];
  /** Whether the handler returned (an attempt that failed is retried as a new invocation). */
  ok?: boolean;
}

let point: Point | undefined;
let fired = 0;
/** The handler invocation each write belongs to (checker steps run inside Verify's). */
const current = new AsyncLocalStorage<Invocation>();
let invocations: Invocation[] = [];
let approverErrors: string[] = [];
let plainDeps: RunDeps;
let host: LocalHost & { stateDir: string };

function crash(): Error {
  fired += 1;
  const error = new Error('the function crashed (injected)');
  error.name = 'Lambda.Unknown';
  return error;
}

function armedFor(invocation: Invocation | undefined): boolean {
  return (
    fired === 0 &&
    point !== undefined &&
    invocation !== undefined &&
    invocation.state === point.state &&
    invocation.role === point.role &&
    invocation.seq === point.seq
  );
}

function faultyStore(store: RunStore): RunStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const original = Reflect.get(target, property, receiver);
      if (!(WRITES as readonly string[]).includes(property as string)) return original;
      return async (...args: unknown[]) => {
        const invocation = current.getStore();
        const number = (invocation?.writes.length ?? 0) + 1;
        const armed =
          armedFor(invocation) && point!.at.when !== 'return' && (point!.at as { write: number }).write === number;
        if (armed && point!.at.when === 'before') throw crash();
        const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        invocation?.writes.push(property as WriteName);
        if (armed && point!.at.when === 'after') throw crash();
        return result;
      };
    },
  });
}

beforeAll(async () => {
  let abort: (() => void) | undefined;
  host = await testHost(ORG, {
    wrapDeps: (deps) => {
      plainDeps = deps;
      return { ...deps, store: faultyStore(deps.store) };
    },
    wrapHandlers: (handlers) =>
      Object.fromEntries(
        Object.entries(handlers).map(([state, handler]) => [
          state,
          async (payload: unknown) => {
            const { runId = '', seq = 0 } = payload as { runId?: string; seq?: number };
            const invocation: Invocation = { state, role: /-check\d+$/.exec(runId)?.[0] ?? 'maker', seq, writes: [] };
            invocations.push(invocation);
            const output = await current.run(invocation, () => handler(payload));
            if (armedFor(invocation) && point!.at.when === 'return') throw crash();
            invocation.ok = true;
            if (state === 'RequestApproval') {
              // The human approves as soon as the run waits: with the token the approval record holds now.
              const { approvalId } = output as { approvalId: string };
              setImmediate(() => {
                approveCalls(plainDeps, approvalId)
                  .then(({ taskToken, output: control }) => host.executor.sendTaskSuccess(taskToken, control))
                  .catch((error: Error) => {
                    approverErrors.push(error.message);
                    abort?.();
                  });
              });
            }
            return output;
          },
        ]),
      ) as typeof handlers,
  });
  runWith = async (agent) => {
    const controller = new AbortController();
    abort = () => controller.abort();
    return host.run({ agent, input: { task: 'cross every boundary' } }, controller.signal);
  };
});
afterAll(async () => {
  await host?.close();
});

let runWith: (agent: string) => ReturnType<LocalHost['run']>;

async function budgetTotals() {
  const usage = await host.deps.store.getBudgetUsage('team', 'faults', periodKey('day', new Date()));
  // Used is spent plus still reserved: a reservation a crash left behind shows here.
  return {
    ...usage,
    reservedMicros: usage.usedMicros - usage.spentMicros,
    reservedTokens: usage.usedTokens - usage.spentTokens,
  };
}

async function rollupTotals() {
  const today = new Date().toISOString().slice(0, 10);
  const rows = await host.deps.store.listRollups('team', today, today);
  const row = rows.find((r) => r.key === 'faults');
  return {
    costMicros: row?.costMicros ?? 0,
    checkerCostMicros: row?.checkerCostMicros ?? 0,
    inputTokens: row?.inputTokens ?? 0,
    outputTokens: row?.outputTokens ?? 0,
    calls: row?.calls ?? 0,
  };
}

async function serverCalls(): Promise<Array<{ tool: string; key: string }>> {
  const text = await readFile(join(host.stateDir, 'counter.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { tool: string; key: string });
}

function diff(after: Record<string, number>, before: Record<string, number>) {
  return Object.fromEntries(Object.keys(after).map((key) => [key, after[key]! - (before[key] ?? 0)]));
}

/** What must not change under a crash: the run's own id, times and latencies aside. */
function normalize<T>(value: T, runId: string): T {
  const text = JSON.stringify(value)
    .replaceAll(runId, 'RUN')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, 'TIME');
  return JSON.parse(text) as T;
}

function stable(trace: TraceEvent[], runId: string) {
  return normalize(
    trace.map(({ startedAt: _s, endedAt: _e, latencyMs: _l, ...rest }) => rest),
    runId,
  );
}

async function runOnce(agent: string, injected: Point | undefined) {
  point = injected;
  fired = 0;
  invocations = [];
  approverErrors = [];
  const budgetBefore = await budgetTotals();
  const rollupBefore = await rollupTotals();
  const serverBefore = (await serverCalls()).length;
  const { runId, meta, outcome } = await runWith(agent);
  const state = await host.deps.store.loadState(runId);
  const trace = await host.deps.store.listTrace(runId);
  const checks = await Promise.all(
    trace.filter((e) => e.childRunId).map(async (e) => stable(await host.deps.store.listTrace(e.childRunId!), runId)),
  );
  const { runId: _id, createdAt: _c, startedAt: _s, endedAt: _e, ...rest } = meta;
  return {
    runId,
    outcome: outcome?.status,
    fired,
    approverErrors,
    invocations: invocations.map((i) => ({ ...i, writes: [...i.writes] })),
    meta: normalize(rest, runId),
    messages: normalize(state!.messages, runId) as Message[],
    trace: stable(trace, runId),
    checks,
    budget: diff(await budgetTotals(), budgetBefore),
    rollups: diff(await rollupTotals(), rollupBefore),
    received: (await serverCalls()).slice(serverBefore),
  };
}

type Run = Awaited<ReturnType<typeof runOnce>>;

/**
 * Every crash point of the first step a state runs in an undisturbed run (its attempt that
 * returned). Later steps of the state run the same code with the same writes (the test above
 * checks the shapes), so sweeping them too would only multiply the runs.
 */
function pointsOf(baseline: Run, state: string, role = 'maker'): Array<Point & { writes: WriteName[] }> {
  return baseline.invocations
    .filter((i) => i.state === state && i.role === role && i.ok)
    .slice(0, 1)
    .flatMap((i) => [
      ...i.writes.flatMap((_, index) => [
        { state, role: i.role, seq: i.seq, at: { when: 'before' as const, write: index + 1 }, writes: i.writes },
        { state, role: i.role, seq: i.seq, at: { when: 'after' as const, write: index + 1 }, writes: i.writes },
      ]),
      { state, role: i.role, seq: i.seq, at: { when: 'return' as const }, writes: i.writes },
    ]);
}

/** How many writes have completed at the crash. */
function writesDone(p: Point, writes: WriteName[]): number {
  if (p.at.when === 'return') return writes.length;
  return p.at.when === 'before' ? p.at.write - 1 : p.at.write;
}

/** A crash after a side effect's claim and before its outcome is recorded leaves the call in doubt. */
function inDoubt(p: Point, writes: WriteName[]): boolean {
  const done = writes.slice(0, writesDone(p, writes));
  return done.filter((w) => w === 'claimSideEffect').length > done.filter((w) => w === 'completeSideEffect').length;
}

function label(p: Point): string {
  return `${p.state}@${p.role}:seq${p.seq} ${p.at.when === 'return' ? 'on return' : `${p.at.when} write ${p.at.write}`}`;
}

/** Which agent's run crosses each state's handler (its undisturbed run is the reference): one per step function. */
const AGENT_OF: Record<StepFunctionName, string> = {
  StartRun: 'boundary',
  ModelStep: 'boundary',
  ToolStep: 'boundary',
  RequestApproval: 'boundary',
  Verify: 'boundary',
  FinishRun: 'boundary',
  FailRun: 'boundary-outage',
};

/** Every crash point of one state's first step (of the maker, or of a checker run), each compared with the undisturbed run. */
async function sweep(agent: string, state: string, role: string): Promise<void> {
  const baseline = baselines[agent]!;
  const points = pointsOf(baseline, state, role);
  expect(points.length).toBeGreaterThan(0);
  for (const p of points) {
    const disturbed = await runOnce(agent, p);
    const name = label(p);
    expect(disturbed.fired, name).toBe(1);
    expect(disturbed.approverErrors, name).toEqual([]);
    expect(disturbed.outcome, name).toBe(baseline.outcome);
    expect(disturbed.budget, name).toEqual(baseline.budget);
    expect(disturbed.rollups, name).toEqual(baseline.rollups);
    expect(disturbed.checks, name).toEqual(baseline.checks);
    const records = (run: Run) => run.received.filter((c) => c.tool === 'record').map((c) => c.key);
    if (!inDoubt(p, p.writes)) {
      expect(disturbed.meta, name).toEqual(baseline.meta);
      expect(disturbed.messages, name).toEqual(baseline.messages);
      expect(disturbed.trace, name).toEqual(baseline.trace);
      expect(records(disturbed), name).toEqual(records(baseline));
      continue;
    }
    // In doubt: never repeated. Crashed right after the claim, the call was not made; crashed
    // before its outcome was recorded, it was made once. Either way the model is told.
    const doubtful = disturbed.trace.filter((e) => e.kind === 'tool_call' && e.detail?.startsWith('in doubt:'));
    expect(
      doubtful.map((e) => e.name),
      name,
    ).toEqual(['counter.record']);
    const callId = doubtful[0]!.callId!;
    const made = p.at.when === 'after' && p.writes[p.at.write - 1] === 'claimSideEffect' ? 0 : 1;
    const key = baseline.received.filter((c) => c.tool === 'record').map((c) => c.key)[
      baseline.trace
        .filter((e) => e.kind === 'tool_call' && e.name === 'counter.record')
        .findIndex((e) => e.callId === callId)
    ];
    expect(records(disturbed).filter((k) => k === key).length, name).toBe(made);
    expect(
      records(disturbed).filter((k) => k !== key),
      name,
    ).toEqual(records(baseline).filter((k) => k !== key));
    // Everything else is the undisturbed run's.
    const patched = baseline.messages.map((m) =>
      m.role !== 'tool'
        ? m
        : {
            ...m,
            content: m.content.map((b) =>
              b.type === 'tool_result' && b.callId === callId
                ? disturbed.messages
                    .flatMap((d) => d.content)
                    .find((d) => d.type === 'tool_result' && d.callId === callId)!
                : b,
            ),
          },
    );
    expect(disturbed.messages, name).toEqual(patched);
    expect(JSON.stringify(disturbed.messages), name).toContain('may have acted without recording an outcome');
    expect(
      disturbed.trace.filter((e) => e.callId !== callId),
      name,
    ).toEqual(baseline.trace.filter((e) => e.callId !== callId));
    expect({ ...disturbed.meta, toolCalls: 0 }, name).toEqual({ ...baseline.meta, toolCalls: 0 });
  }
}

const { definition, functionOf } = loadDefinition();
const baselines: Record<string, Run> = {};

describe('a crash at every step boundary', () => {
  beforeAll(async () => {
    for (const agent of new Set(Object.values(AGENT_OF))) baselines[agent] = await runOnce(agent, undefined);
  });

  it('has a case for every Task state of the state machine that runs a handler', () => {
    expect(Object.keys(AGENT_OF).sort()).toEqual([...functionOf.keys()].sort());
    // The other Tasks start an execution of the same machine (no handler, no store write): the next
    // one of a long run (covered by the long-run test), and a delegated sub-agent's child, waited for
    // (its hand-over and outcomes are ToolStep commits, covered by the delegation test).
    const states = (definition as { States: Record<string, { Type: string }> }).States;
    const otherTasks = Object.entries(states)
      .filter(([name, s]) => s.Type === 'Task' && !functionOf.has(name))
      .map(([name]) => name);
    expect(otherTasks).toEqual(['ContinueAsNew', 'Delegate']);
  });

  it('knows every method of the store port as a read or a write, so no write escapes the sweep', async () => {
    // RunStore is the intersection of the ports in core/ports/store/: every interface there.
    const dir = 'core/ports/store';
    const ports = await Promise.all((await readdir(dir)).map((file) => readFile(join(dir, file), 'utf8')));
    const bodies = ports.flatMap((port) =>
      port
        .split(/^export interface \w+ \{$/m)
        .slice(1)
        .map((rest) => rest.slice(0, rest.indexOf('\n}'))),
    );
    const methods = bodies.flatMap((body) => [...body.matchAll(/^ {2}(\w+)\(/gm)].map((match) => match[1]!));
    expect(methods.length).toBeGreaterThan(15);
    expect(methods.filter((name) => !(WRITES as readonly string[]).includes(name) && !READS.includes(name))).toEqual(
      [],
    );
  });

  it('has undisturbed runs that cross every state, with the writes each handler makes', () => {
    const boundary = baselines.boundary!;
    expect(boundary.outcome).toBe('SUCCEEDED');
    expect(boundary.meta).toMatchObject({
      status: 'finished',
      stopReason: 'verified',
      verifyAttempts: 2,
      modelCalls: 4,
    });
    expect(boundary.received.filter((c) => c.tool === 'record').map((c) => c.key)).toEqual(['first', 'second']);
    expect(boundary.budget.spentMicros).toBeGreaterThan(0);
    expect(boundary.budget.reservedMicros).toBe(0);
    const outage = baselines['boundary-outage']!;
    expect(outage.meta).toMatchObject({ status: 'finished', stopReason: 'model_unavailable' });
    expect(outage.received.map((c) => c.key)).toEqual(['lonely']);
    for (const [state, agent] of Object.entries(AGENT_OF)) {
      const seen = baselines[agent]!.invocations.filter((i) => i.state === state && i.role === 'maker' && i.ok);
      expect(seen.length, state).toBeGreaterThan(0);
      expect(
        seen.every((i) => i.writes.length > 0),
        state,
      ).toBe(true);
    }
    // A handler with more than one write, so "between writes" is swept too.
    const writesOf = (state: string) =>
      boundary.invocations.filter((i) => i.state === state && i.role === 'maker' && i.ok).map((i) => i.writes);
    expect(writesOf('ModelStep')).toEqual(Array.from({ length: 4 }, () => ['reserveBudget', 'settleBudget', 'commit']));
    expect(writesOf('ToolStep')).toEqual(
      Array.from({ length: 2 }, () => ['claimSideEffect', 'completeSideEffect', 'commit']),
    );
    expect(writesOf('RequestApproval')).toEqual(Array.from({ length: 2 }, () => ['putApproval', 'commit']));
  });

  for (const state of STEP_FUNCTION_NAMES) {
    it(`${state}: a crash before, between and after its writes is retried, and the run ends as if nothing happened`, async () => {
      await sweep(AGENT_OF[state]!, state, 'maker');
    }, 180_000);
  }

  it("a checker run's own steps (its own execution, started by Verify): a crash in any of them is retried there, and the run ends as if nothing happened", async () => {
    const states = [
      ...new Set(baselines.boundary!.invocations.filter((i) => i.role === '-check1' && i.ok).map((i) => i.state)),
    ];
    // A checker only reads: its ModelStep makes its tool calls in the commit that stores its turn (no ToolStep).
    expect(states.sort()).toEqual(['FinishRun', 'ModelStep', 'StartRun']);
    for (const state of states) await sweep('boundary', state, '-check1');
  }, 180_000);

  it("a ModelStep that goes on to make its turn's write: a crash before, between and after its writes (both commits) is retried, and the run ends as if nothing happened", async () => {
    // boundary-direct's turn writes and reads with no approval: its ModelStep commits the answer,
    // then claims and makes the write, records it, makes the read and commits both results.
    // Retried after its first commit, the step replays it and the ToolStep makes the calls.
    baselines['boundary-direct'] = await runOnce('boundary-direct', undefined);
    const direct = baselines['boundary-direct'];
    expect(direct.outcome).toBe('SUCCEEDED');
    expect(direct.received.map((c) => `${c.tool} ${c.key}`).sort()).toEqual(['peek direct', 'record direct']);
    const steps = direct.invocations.filter((i) => i.role === 'maker' && i.ok);
    expect(steps.map((i) => i.state)).toEqual(['StartRun', 'ModelStep', 'ModelStep', 'FinishRun']);
    expect(steps[1]!.writes).toEqual([
      'reserveBudget',
      'settleBudget',
      'commit',
      'claimSideEffect',
      'completeSideEffect',
      'commit',
    ]);
    await sweep('boundary-direct', 'ModelStep', 'maker');
  }, 180_000);
});
