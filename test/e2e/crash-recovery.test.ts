import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { testHost } from '../support/local-host.ts';

/**
 * A handler that dies mid-step is retried by the state machine (Lambda reports such a
 * crash as Lambda.Unknown). A step's run state is written in one commit, and a call that
 * may change something is claimed before it is made and recorded after. The faults are
 * swept over every one of those writes of a run, the checker's included, before and after
 * the write.
 */

type Write = 'commit' | 'claimSideEffect' | 'completeSideEffect';
type Fault = { write: Write; at: number; when: 'before' | 'after' } | undefined;

let fault: Fault;
const writes: Record<Write, number> = { commit: 0, claimSideEffect: 0, completeSideEffect: 0 };
let faultsFired = 0;
/** What the tool server received, per run: `tool args`. */
let received: string[] = [];

function crash(): Error {
  faultsFired += 1;
  const error = new Error('the function crashed (injected)');
  error.name = 'Lambda.Unknown';
  return error;
}

function crashingStore(store: RunStore): RunStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const original = Reflect.get(target, property, receiver);
      if (property !== 'commit' && property !== 'claimSideEffect' && property !== 'completeSideEffect') return original;
      const write = property as Write;
      return async (...args: unknown[]) => {
        writes[write] += 1;
        const here = fault?.write === write && fault.at === writes[write];
        if (here && fault!.when === 'before') throw crash();
        const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (here && fault!.when === 'after') throw crash();
        return result;
      };
    },
  });
}

function countingTools(tools: ToolGateway): ToolGateway {
  return {
    listTools: (server) => tools.listTools(server),
    close: () => tools.close(),
    callTool(server, tool, args, options) {
      received.push(`${tool} ${JSON.stringify(args)}`);
      return tools.callTool(server, tool, args, options);
    },
  };
}

let host: LocalHost;
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org', {
    wrapDeps: (deps) => ({ ...deps, store: crashingStore(deps.store), tools: countingTools(deps.tools) }),
  });
});
afterAll(async () => {
  await host?.close();
});

/** What must not change under a crash: no timestamps or latencies. */
function stable(trace: TraceEvent[]) {
  return trace.map(
    ({ kind, role, name, status, inputTokens, outputTokens, costMicros, stopReason, detail, callId, attempt }) => ({
      kind,
      role,
      name,
      status,
      inputTokens,
      outputTokens,
      costMicros,
      stopReason,
      callId,
      attempt,
      detail: kind === 'run_started' || kind === 'run_finished' ? undefined : detail,
    }),
  );
}

async function runOnce(injected: Fault) {
  fault = injected;
  for (const key of Object.keys(writes) as Write[]) writes[key] = 0;
  received = [];
  const { runId, meta, outcome } = await host.run({ agent: 'crash', input: { task: 'crash me' } });
  const state = await host.deps.store.loadState(runId);
  const trace = await host.deps.store.listTrace(runId);
  const checks = await Promise.all(
    trace.filter((e) => e.childRunId).map(async (e) => stable(await host.deps.store.listTrace(e.childRunId!))),
  );
  const {
    runId: _id,
    createdAt: _c,
    startedAt: _s,
    endedAt: _e,
    lastControl: _l,
    pendingStop: _p,
    stopDetail: _d,
    ...rest
  } = meta;
  const sideEffects = received.filter((call) => call.startsWith('echo '));
  return {
    outcome,
    writes: { ...writes },
    meta: rest,
    messages: state!.messages,
    trace: stable(trace),
    rawTrace: trace,
    checks,
    sideEffects,
  };
}

let baseline: Awaited<ReturnType<typeof runOnce>>;

describe('a crash at any write of any step', () => {
  beforeAll(async () => {
    baseline = await runOnce(undefined);
  });

  it('has a baseline: verified, with two side-effecting calls', () => {
    expect(baseline.meta.stopReason).toBe('verified');
    expect(baseline.writes.commit).toBeGreaterThan(15);
    expect(baseline.sideEffects).toEqual(['echo {"message":"first"}', 'echo {"message":"second"}']);
  });

  it('around a commit: retried, and the run ends exactly as if nothing happened, each side effect made once', async () => {
    const firedBefore = faultsFired;
    for (let at = 1; at <= baseline.writes.commit; at++) {
      for (const when of ['before', 'after'] as const) {
        const disturbed = await runOnce({ write: 'commit', at, when });
        const label = `crash ${when} commit ${at}`;
        expect(disturbed.outcome?.status, label).toBe('SUCCEEDED');
        expect(disturbed.meta, label).toEqual(baseline.meta);
        expect(disturbed.messages, label).toEqual(baseline.messages);
        expect(disturbed.trace, label).toEqual(baseline.trace);
        expect(disturbed.checks, label).toEqual(baseline.checks);
        expect(disturbed.sideEffects, label).toEqual(baseline.sideEffects);
      }
    }
    expect(faultsFired - firedBefore).toBe(baseline.writes.commit * 2);
  }, 300_000);

  it("around recording a side effect's outcome: the call is never repeated; an unrecorded one is reported in doubt", async () => {
    expect(baseline.writes.claimSideEffect).toBe(2);
    for (let at = 1; at <= 2; at++) {
      const message = at === 1 ? 'first' : 'second';
      // Before the claim: nothing happened yet, so the retry makes the call once, normally.
      const beforeClaim = await runOnce({ write: 'claimSideEffect', at, when: 'before' });
      expect(beforeClaim.messages, `before claim ${at}`).toEqual(baseline.messages);
      expect(beforeClaim.sideEffects).toEqual(baseline.sideEffects);
      // After recording the outcome: the retry reuses it.
      const afterRecord = await runOnce({ write: 'completeSideEffect', at, when: 'after' });
      expect(afterRecord.messages, `after record ${at}`).toEqual(baseline.messages);
      expect(afterRecord.sideEffects).toEqual(baseline.sideEffects);
      // Between the claim and the record (the call may or may not have happened): never called again.
      for (const injected of [
        { write: 'claimSideEffect', at, when: 'after' },
        { write: 'completeSideEffect', at, when: 'before' },
      ] as const) {
        const doubtful = await runOnce(injected);
        const label = `${injected.when} ${injected.write} ${at}`;
        expect(doubtful.outcome?.status, label).toBe('SUCCEEDED');
        const calls = doubtful.sideEffects.filter((call) => call.includes(message));
        expect(calls.length, label).toBe(injected.write === 'claimSideEffect' ? 0 : 1);
        const inDoubt = doubtful.rawTrace.filter((e) => e.kind === 'tool_call' && e.detail?.startsWith('in doubt:'));
        expect(
          inDoubt.map((e) => e.name),
          label,
        ).toEqual(['everything.echo']);
        expect(
          doubtful.messages.some((m) => JSON.stringify(m).includes('may have acted without recording an outcome')),
          label,
        ).toBe(true);
      }
    }
  }, 300_000);
});
