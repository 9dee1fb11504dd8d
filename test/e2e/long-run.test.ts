import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { SEQS_PER_EXECUTION } from '../../core/run/continuation.ts';
import { testHost } from '../support/local-host.ts';

/**
 * A run thousands of steps long: the state machine continues in a new execution before
 * Step Functions' 25,000-event history limit, carrying only the run id, and the payload
 * stays a few dozen bytes however long the conversation grows.
 */

let host: LocalHost;
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org');
});
afterAll(async () => {
  await host?.close();
});

describe('a 5,000-step run', () => {
  it('completes across continued executions, each far under the history limit, with nothing lost or repeated', async () => {
    const result = await host.run({ agent: 'marathon', input: {} });
    expect(result.meta.stopReason).toBe('max_steps');
    const outcome = result.outcome!;
    expect(outcome.status).toBe('SUCCEEDED');

    // 2,500 model steps and 2,500 tool steps, plus the start and the finish.
    expect(result.meta.seq).toBeGreaterThanOrEqual(5_000);
    // A new execution each SEQS_PER_EXECUTION steps (the last crossing may come with the finish, which needs none).
    expect(outcome.executions).toBeGreaterThanOrEqual(Math.floor(result.meta.seq / SEQS_PER_EXECUTION));
    expect(outcome.executions).toBeLessThanOrEqual(Math.floor(result.meta.seq / SEQS_PER_EXECUTION) + 1);
    expect(outcome.statesEntered.filter((state) => state === 'ContinueAsNew')).toHaveLength(outcome.executions - 1);
    // Every execution after the first started by resuming the run, not by starting it again.
    expect(outcome.statesEntered.filter((state) => state === 'StartRun')).toHaveLength(outcome.executions);
    // The local engine logs about half the events AWS does (no TaskScheduled/Started/Succeeded): double it.
    expect(outcome.maxHistoryEvents * 2).toBeLessThan(25_000);
    expect(outcome.largestPayloadBytes).toBeLessThan(8 * 1024);

    const state = await host.deps.store.loadState(result.runId);
    const assistantTurns = state!.messages.filter((message) => message.role === 'assistant');
    expect(assistantTurns).toHaveLength(2_500);
    const trace = await host.deps.store.listTrace(result.runId);
    expect(trace.filter((event) => event.kind === 'model_call')).toHaveLength(2_500);
    // The last turn's call is never made: the run stopped at max_steps after the model answered.
    expect(trace.filter((event) => event.kind === 'tool_call')).toHaveLength(2_499);
    expect(result.meta.usage.costMicros).toBe(
      trace.filter((event) => event.kind === 'model_call').reduce((sum, event) => sum + event.costMicros, 0),
    );
  }, 900_000);

  it('refuses to resume a run from a seq it is not at: a second execution never drives it', async () => {
    const result = await host.run({ agent: 'basic', input: {} });
    expect(result.meta.seq).not.toBe(3);
    const outcome = await host.executor.run({ runId: result.runId, resumeSeq: 3 });
    // The stale execution ends in FailRun, which leaves the finished run as it was.
    expect(outcome.statesEntered).toEqual(['StartRun', 'FailRun', 'Failed?', 'RunStopped']);
    expect(await host.deps.store.getRun(result.runId)).toEqual(result.meta);
  });
});
