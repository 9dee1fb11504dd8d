import { describe, expect, it } from 'vitest';
import { cut, outputWidth, wrap } from '../../cli/output/fit.ts';
import { summaryLine, traceLine } from '../../cli/output/trace-lines.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { newRunMeta } from '../../core/run/request-run.ts';

/** Trace lines fitted to the terminal's width: the important columns kept, the rest cut with an ellipsis or wrapped. */

const toolCall: TraceEvent = {
  runId: 'r1',
  seq: 4,
  kind: 'tool_call',
  role: 'maker',
  name: 'memory.create_entities',
  status: 'error',
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:01.000Z',
  latencyMs: 1234,
  inputTokens: 12_000,
  outputTokens: 340,
  cachedInputTokens: 0,
  costMicros: 39_500,
  detail: `the server answered 500: ${'a long explanation of what went wrong on the server side '.repeat(4).trim()}`,
};

const length = (line: string) => [...line].length;

describe('a trace line at a given width', () => {
  it('at 200: every column, the detail cut at the width with an ellipsis', () => {
    const line = traceLine(toolCall, '  ', 200);
    expect(line.split('\n')).toHaveLength(1);
    expect(length(line)).toBe(200);
    expect(line).toMatch(
      /^ {2}tool {5}memory\.create_entities {14}1,234 ms {2}ERROR {2}12,000 in \/ 340 out {6}\$0\.0395 {2}the server answered 500: a long/,
    );
    expect(line.endsWith('…')).toBe(true);
  });

  it('at 100: the tokens column gives way; name, latency, status, cost and the start of the detail stay', () => {
    const line = traceLine(toolCall, '  ', 100);
    expect(line.split('\n')).toHaveLength(1);
    expect(length(line)).toBe(100);
    expect(line).not.toContain('12,000 in');
    expect(line).toMatch(/memory\.create_entities +1,234 ms {2}ERROR +\$0\.0395 {2}the server answered 500/);
  });

  it('at 60: the name is shortened and the detail goes on a line of its own, both within the width', () => {
    const [first, second, ...more] = traceLine(toolCall, '  ', 60).split('\n');
    expect(more).toEqual([]);
    expect(length(first!)).toBeLessThanOrEqual(60);
    expect(first).toMatch(/^ {2}tool {5}memory\.create_enti… +1,234 ms {2}ERROR +\$0\.0395$/);
    expect(second).toMatch(/^ {6}the server answered 500: a long .*…$/);
    expect(length(second!)).toBe(60);
  });

  it('a short detail stays on the line even when little room is left', () => {
    const line = traceLine({ ...toolCall, status: 'ok', detail: 'ok' }, '  ', 60);
    expect(line.split('\n')).toHaveLength(1);
    expect(line.endsWith('  ok')).toBe(true);
  });

  it('the summary wraps its stop detail and totals to the width', () => {
    const meta = {
      ...newRunMeta({ runId: 'r1', agent: 'a', principal: 'p', trigger: { kind: 'cli' }, input: {}, createdAt: '' }),
      status: 'finished' as const,
      stopReason: 'budget_exhausted' as const,
      stopDetail:
        'budget team-daily (team platform, day 2026-01-01, limit $0.05) is exhausted: approve +$0.045 for this run to continue',
      modelCalls: 3,
      toolCalls: 2,
    };
    for (const width of [60, 100, 200]) {
      const lines = summaryLine(meta, 2_500, width).split('\n');
      for (const line of lines) expect(length(line)).toBeLessThanOrEqual(width);
      expect(lines.join(' ').replace(/\s+/g, ' ')).toContain('approve +$0.045 for this run to continue');
    }
    expect(summaryLine(meta, 2_500, 200).split('\n')).toEqual([
      `■ budget_exhausted — ${meta.stopDetail}`,
      '  3 model calls · 2 tool calls · 0 tokens · $0.00 · 2.5 s',
    ]);
  });
});

describe('the width to fit', () => {
  it("is the terminal's, else COLUMNS, else the default for pipes and logs", () => {
    expect(outputWidth({ isTTY: true, columns: 100 }, {})).toBe(100);
    expect(outputWidth({ isTTY: false }, { COLUMNS: '120' })).toBe(120);
    expect(outputWidth({ isTTY: false }, {})).toBe(240);
    expect(outputWidth({ isTTY: true, columns: 10 }, {})).toBe(40);
  });

  it('cuts with an ellipsis and wraps on words', () => {
    expect(cut('abcdef', 4)).toBe('abc…');
    expect(cut('abc', 4)).toBe('abc');
    expect(wrap('one two three four', 9, '  ')).toEqual(['one two', '  three', '  four']);
    expect(wrap('one two', 20, '  ', '  ')).toEqual(['  one two']);
  });
});
