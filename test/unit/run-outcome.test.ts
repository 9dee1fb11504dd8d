import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { STOP_REASONS } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { plainDetail } from '../../core/format/error-names.ts';
import { callProblems, EXIT, exitStatus, outcomeLines } from '../../cli/output/run-outcome.ts';
import { runsTable } from '../../cli/output/runs-table.ts';

/** How the CLI tells a person how a run ended (cli/output/run-outcome.ts, core/format/error-names.ts). */

function event(fields: Partial<TraceEvent> & Pick<TraceEvent, 'kind' | 'name' | 'status'>): TraceEvent {
  const at = '2026-12-06T10:00:00.000Z';
  return {
    runId: 'r',
    seq: 0,
    role: 'maker',
    startedAt: at,
    endedAt: at,
    latencyMs: 0,
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    costMicros: 0,
    ...fields,
  };
}

describe('refused and failed calls', () => {
  const trace = [
    event({ kind: 'tool_call', name: 'notes.create_entities', server: 'notes', tool: 'create_entities', status: 'ok' }),
    event({ kind: 'tool_denied', name: 'notes__delete_entities', status: 'denied', detail: 'refused: not granted' }),
    event({
      kind: 'tool_call',
      name: 'notes__open_nodes',
      status: 'error',
      detail: 'notes__open_nodes is not loaded yet',
    }),
  ];
  const checker = [event({ kind: 'tool_denied', name: 'notes__add', status: 'denied', role: 'checker', detail: 'no' })];

  it("are gathered from the run and its checker's, each tool named as people read it", () => {
    expect(callProblems(trace, { c: checker })).toEqual({
      refused: [
        { role: 'maker', tool: 'notes.delete_entities', detail: 'refused: not granted' },
        { role: 'checker', tool: 'notes.add', detail: 'no' },
      ],
      failed: [{ role: 'maker', tool: 'notes.open_nodes', detail: 'notes.open_nodes is not loaded yet' }],
    });
  });

  it('tell a completion with them (3) from a clean one (0), a stop (2) and a failure (1)', () => {
    const none = { refused: [], failed: [] };
    const some = callProblems(trace);
    expect(exitStatus({ stopReason: 'verified', status: 'finished' }, none)).toBe(EXIT.clean);
    expect(exitStatus({ stopReason: 'completed', status: 'finished' }, some)).toBe(EXIT.completedWithProblems);
    expect(exitStatus({ stopReason: 'max_steps', status: 'finished' }, some)).toBe(EXIT.stopped);
    expect(exitStatus({ stopReason: 'error', status: 'failed' }, none)).toBe(EXIT.error);
    expect(exitStatus({ status: 'running' }, none)).toBe(EXIT.error);
  });

  it('are listed under the summary, then the answer', () => {
    expect(outcomeLines(callProblems(trace, { c: checker }), 'Done.\nAll of it.')).toEqual([
      '  2 tool calls refused:',
      '    notes.delete_entities: refused: not granted',
      '    notes.add (checker): no',
      '  1 tool call failed:',
      '    notes.open_nodes: notes.open_nodes is not loaded yet',
      '',
      'Answer:',
      '  Done.',
      '  All of it.',
    ]);
    expect(outcomeLines({ refused: [], failed: [] }, undefined)).toEqual([]);
  });
});

describe('stop details in plain words', () => {
  it('says what the recorded error names mean, each once', () => {
    expect(plainDetail('looprail.ExecutionABORTED: cancelled by lead@example.com')).toBe(
      'the execution was stopped: cancelled by lead@example.com',
    );
    expect(plainDetail('ExecutionError: looprail.ConfigurationError: MCP server "x": could not start "y"')).toBe(
      'the execution failed: configuration problem: MCP server "x": could not start "y"',
    );
    expect(plainDetail('looprail.ExecutionFAILED: ExecutionError: boom')).toBe('the execution failed: boom');
    expect(plainDetail('the checker passed attempt 2')).toBe('the checker passed attempt 2');
    expect(plainDetail('looprail.SomethingNewError: x')).toBe('SomethingNewError: x');
  });

  it("README's list of stop reasons is the runtime's", () => {
    const readme = readFileSync('README.md', 'utf8');
    const listed = /\*\*Exactly one stop reason\*\*:([\s\S]*?)\.\n/.exec(readme)![1]!;
    expect([...listed.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]).sort()).toEqual([...STOP_REASONS].sort());
  });
});

describe('looprail runs', () => {
  it('has a header, columns as wide as their values and numbers on the right', () => {
    const usage = { inputTokens: 1200, outputTokens: 34, cachedInputTokens: 0, costMicros: 39_500 };
    const none = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, costMicros: 0 };
    const lines = runsTable([
      {
        createdAt: '2026-12-06T10:00:00.000Z',
        runId: 'run-1',
        agent: 'morning-triage',
        stopReason: 'verified',
        status: 'finished',
        usage,
        checkerUsage: none,
      },
      {
        createdAt: '2026-12-06T09:00:00.000Z',
        runId: 'run-22',
        agent: 'x',
        status: 'running',
        usage: none,
        checkerUsage: none,
      },
    ]);
    expect(lines).toEqual([
      'CREATED                   RUN     AGENT           OUTCOME   TOKENS     COST',
      '2026-12-06T10:00:00.000Z  run-1   morning-triage  verified   1,234  $0.0395',
      '2026-12-06T09:00:00.000Z  run-22  x               running        0    $0.00',
    ]);
  });
});
