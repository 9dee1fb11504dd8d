import { describe, expect, it } from 'vitest';
import { childTraces, renderTrace } from '../../cli/output/trace-tree.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { newRunMeta } from '../../core/run/request-run.ts';

/** `looprail trace` as text: child runs nested under the step that started them, retries and decisions named. */

function event(runId: string, seq: number, fields: Partial<TraceEvent> = {}): TraceEvent {
  return {
    runId,
    seq,
    kind: 'model_call',
    role: 'maker',
    name: 'm',
    status: 'ok',
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:00:01.000Z',
    latencyMs: 1000,
    inputTokens: 1,
    outputTokens: 1,
    cachedInputTokens: 0,
    costMicros: 0,
    ...fields,
  };
}

const meta = {
  ...newRunMeta({
    runId: 'r1',
    agent: 'a',
    principal: 'p',
    trigger: { kind: 'cli' },
    input: {},
    createdAt: '2026-01-01T00:00:00.000Z',
  }),
  status: 'finished' as const,
  stopReason: 'verified' as const,
};

describe('renderTrace', () => {
  it('nests child runs (and theirs) under the event that started them, and marks retries and decisions', () => {
    const trace = [
      event('r1', 0, { kind: 'tool_call', name: 'srv.tool', attempt: 2 }),
      event('r1', 1, { kind: 'approval_decided', name: 'srv.write', detail: 'approval x: approved by lead' }),
      event('r1', 2, { kind: 'verification', name: 'reviewer', childRunId: 'r1-check1', status: 'pass' }),
      event('r1', 3, { kind: 'run_finished', name: 'a' }),
    ];
    const children = {
      'r1-check1': [event('r1-check1', 0, { name: 'checker-model', childRunId: 'r1-check1-sub' })],
      'r1-check1-sub': [event('r1-check1-sub', 0, { name: 'deep' })],
    };
    const lines = renderTrace(meta, trace, children).split('\n');
    expect(lines[1]).toMatch(/^ {2}tool\s+srv\.tool \(attempt 2\)/);
    expect(lines[2]).toMatch(/^ {2}decided\s+srv\.write .*approved by lead/);
    expect(lines[3]).toMatch(/^ {2}verify\s+reviewer/);
    expect(lines[4]).toBe('  │ ▷ r1-check1');
    expect(lines[5]).toMatch(/^ {2}│ model\s+checker-model/);
    expect(lines[6]).toBe('  │ │ ▷ r1-check1-sub');
    expect(lines[7]).toMatch(/^ {2}│ │ model\s+deep/);
    expect(lines[8]).toMatch(/^ {2}finish/);
  });

  it('does not follow a link back to a run already shown', () => {
    const trace = [event('r1', 0, { kind: 'verification', childRunId: 'c' })];
    const text = renderTrace(meta, trace, { c: [event('c', 0, { childRunId: 'r1' })] });
    expect(text.match(/▷/g)).toHaveLength(1);
  });
});

describe('childTraces', () => {
  it('reads every linked run once, level by level', async () => {
    const traces: Record<string, TraceEvent[]> = { c1: [event('c1', 0, { childRunId: 'c2' })], c2: [event('c2', 0)] };
    const read: string[] = [];
    const children = await childTraces(
      [event('r1', 0, { childRunId: 'c1' }), event('r1', 1, { childRunId: 'c1' })],
      async (runId) => {
        read.push(runId);
        return traces[runId] ?? [];
      },
    );
    expect(Object.keys(children)).toEqual(['c1', 'c2']);
    expect(read).toEqual(['c1', 'c2']);
  });
});
