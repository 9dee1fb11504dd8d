import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { knownValueRedactor } from '../core/guardrails/redact-known.ts';

/**
 * What known-secret redaction costs a step: once a process has read a secret, every run
 * state it loads and every record it writes passes through the redactor
 * (core/run/redacting-deps.ts), so the cost grows with the conversation. Measured on
 * conversations shaped like a tool-using loop's (JSON tool results with escapes, where the
 * decoded views are built), with four known 40-character secrets, none present (the common case).
 */

const SIZES = [20, 100, 500];
const REPEATS = 9;

function conversation(turns: number): unknown {
  const messages: unknown[] = [];
  for (let turn = 0; turn < turns; turn++) {
    messages.push({
      role: 'assistant',
      content: [
        { type: 'tool_use', id: `call-${turn}`, name: 'ci__read_log', input: { job: `api-${turn}`, lines: 200 } },
      ],
    });
    const log = Array.from(
      { length: 20 },
      (_, line) => `[${line}] step \\"build\\" ok: C:\\\\work\\\\api-${turn}%20log+${line}`,
    ).join('\n');
    messages.push({ role: 'tool', content: JSON.stringify({ job: `api-${turn}`, status: 'failed', log }) });
  }
  return { messages, meta: { runId: 'r', agent: 'morning-triage' } };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A copy with every string a new object, as a state read back from the table is. */
const reloaded = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

export async function redactionCost() {
  const secrets = Array.from({ length: 3 }, () => randomBytes(30).toString('base64'));
  const rows = [];
  for (const turns of SIZES) {
    const cold: number[] = [];
    const step: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      // A new set of secrets each time: a redactor that has seen nothing yet.
      const redactor = knownValueRedactor([...secrets, randomBytes(30).toString('base64')]);
      const before = reloaded(conversation(turns - 1));
      let started = performance.now();
      redactor.redactDeep(before);
      cold.push(performance.now() - started);
      const now = reloaded(conversation(turns));
      started = performance.now();
      redactor.redactDeep(now);
      step.push(performance.now() - started);
    }
    rows.push({
      turns,
      state_kb: Math.round(Buffer.byteLength(JSON.stringify(conversation(turns))) / 1024),
      whole_p50_ms: Number(percentile(cold, 50).toFixed(2)),
      step_p50_ms: Number(percentile(step, 50).toFixed(2)),
      step_p99_ms: Number(percentile(step, 99).toFixed(2)),
    });
  }
  return { secrets: secrets.length + 1, rows };
}

export function redactionMarkdown(figures: Awaited<ReturnType<typeof redactionCost>>): string {
  return `
## Known-secret redaction per step

Once a process has read a secret, each run state it loads and each record it writes passes through the known-secret redactor (raw, trimmed, base64 at 3 alignments, and the JSON-escape, percent and form decodings mapped back). Cost of one pass over a tool-using loop's conversation (JSON tool results with escapes), ${figures.secrets} known 40-character secrets, none present. A step loads the state read back from the table (every string a new object):

| tool turns | state | whole state, first pass, p50 | a step (the newest turn new), p50 | p99 |
|---|---|---|---|---|
${figures.rows.map((row) => `| ${row.turns} | ${row.state_kb} KB | ${row.whole_p50_ms} ms | ${row.step_p50_ms} ms | ${row.step_p99_ms} ms |`).join('\n')}

A redactor remembers the long texts it already redacted (by content, a few MB, least recently used out), so a step pays for what is new in the run, not for its whole history.
`;
}
