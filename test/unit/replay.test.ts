import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { ModelRequest } from '../../core/ports/models.ts';
import { compareDecisions, type Decision, decisionsOf, Recording } from '../../core/review/replay.ts';

/** The replay's pure parts: what it answers from a recording, and how it reads the first difference. */

const event = (kind: TraceEvent['kind'], name: string, more: Partial<TraceEvent> = {}): TraceEvent =>
  ({
    runId: 'r',
    seq: 0,
    kind,
    role: 'maker',
    name,
    status: 'ok',
    startedAt: '',
    endedAt: '',
    latencyMs: 0,
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    costMicros: 0,
    ...more,
  }) as TraceEvent;

const request = (role: 'maker' | 'checker', callIndex: number) => ({ runId: 'new', role, callIndex }) as ModelRequest;

describe('a recording', () => {
  const recording = new Recording([
    {
      runId: 'r',
      role: 'maker',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'go' }] },
        {
          role: 'assistant',
          content: [{ type: 'tool_call', id: 'c1', name: 'files__read', arguments: { path: 'a' } }],
        },
        {
          role: 'tool',
          content: [{ type: 'tool_result', callId: 'c1', name: 'files__read', content: 'preview…', isError: false }],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'done' }] },
      ],
      trace: [
        event('model_call', 'm', { inputTokens: 10, outputTokens: 2 }),
        event('tool_call', 'files.read', { server: 'files', tool: 'read', callId: 'c1', resultHandle: 'h' }),
        event('model_call', 'm', { inputTokens: 20, outputTokens: 3 }),
      ],
      offloaded: { c1: 'the whole file' },
    },
  ]);

  it('answers each model call with its recorded turn and tokens, and refuses one past the recording', () => {
    expect(recording.answer(request('maker', 0))).toMatchObject({
      stopReason: 'tool_use',
      inputTokens: 10,
      outputTokens: 2,
    });
    expect(recording.answer(request('maker', 1))).toMatchObject({
      stopReason: 'end_turn',
      content: [{ type: 'text', text: 'done' }],
    });
    expect(() => recording.answer(request('maker', 2))).toThrow(
      'replay: the maker asks for model call 3, which was never recorded',
    );
    expect(() => recording.answer(request('checker', 0))).toThrow('replay: the checker asks for model call 1');
  });

  it('answers a call with the same arguments with its full recorded result, once; other arguments are refused', () => {
    expect(() => recording.result('files', 'read', { path: 'b' })).toThrow(
      'replay: files.read was called with arguments the recorded run never used ({"path":"b"})',
    );
    expect(recording.result('files', 'read', { path: 'a' })).toEqual({ content: 'the whole file', isError: false });
    expect(() => recording.result('files', 'read', { path: 'a' })).toThrow(/never used/);
  });
});

describe('comparing decisions', () => {
  const decision = (kind: Decision['kind'], name: string, more: Partial<Decision> = {}): Decision => ({
    where: 'maker',
    kind,
    name,
    status: 'ok',
    ...more,
  });

  it("puts a checker run's decisions before its verification, and reads nothing but decisions", () => {
    const trace = [
      event('model_call', 'm'),
      event('tool_call', 'a.b'),
      event('verification', 'reviewer', { status: 'pass', childRunId: 'c' }),
      event('run_finished', 'done', { stopReason: 'verified' }),
    ];
    const children = new Map([['c', [event('tool_call', 'a.read', { role: 'checker' })]]]);
    expect(decisionsOf(trace, children).map((each) => `${each.where} ${each.kind} ${each.name}`)).toEqual([
      'maker tool_call a.b',
      'checker 1 tool_call a.read',
      'maker verification reviewer',
      'maker run_finished done',
    ]);
  });

  it('reads the first difference in plain words', () => {
    const recorded = [decision('tool_call', 'a.b'), decision('run_finished', 'done', { stopReason: 'completed' })];
    expect(compareDecisions(recorded, recorded)).toEqual({ same: 2 });
    expect(
      compareDecisions(recorded, [decision('tool_denied', 'a__b', { status: 'denied', detail: 'not granted' })])
        .divergence?.reading,
    ).toBe('maker: a__b would now be denied: not granted');
    expect(
      compareDecisions(recorded, [
        decision('tool_call', 'a.b'),
        decision('stop_decided', 'stop', { stopReason: 'budget_exhausted' }),
      ]),
    ).toMatchObject({ same: 1, divergence: { reading: 'maker: the run would stop here, budget_exhausted' } });
    expect(compareDecisions(recorded, [decision('tool_call', 'a.b')]).divergence?.reading).toBe(
      'the replay ended before the recorded run finished done: ok (completed)',
    );
  });
});
