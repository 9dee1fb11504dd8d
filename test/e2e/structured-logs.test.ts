import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textOf } from '../../core/definitions/messages.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { runToEnd, testHost } from '../support/local-host.ts';

/**
 * Every log line a run writes is one JSON object that names its run and step, and carries
 * ids, names and counts only: no message text, tool arguments or results, and no input.
 */

let host: Awaited<ReturnType<typeof testHost>>;
const lines: string[] = [];

beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org', {
    log: jsonLogger('info', (line) => lines.push(line)),
    // An event bus that is down: the core logs a warning from inside the step that published.
    wrapDeps: (deps) => ({ ...deps, events: { publish: () => Promise.reject(new Error('the event bus is down')) } }),
  });
});

afterAll(async () => {
  await host?.close();
});

describe('structured logs', () => {
  it('put the run id and the step on every line, and no payload or secret in any', async () => {
    // Key-shaped, built at run time: it must reach the run (its input) and never a log line.
    const secret = ['AKIA', 'IOSFODNN7', 'LOGTEST'].join('');
    const runs = [
      await runToEnd(host, 'basic', { note: secret }),
      await runToEnd(host, 'tool-errors', { note: secret }),
    ];
    expect(runs.map((run) => run.meta.stopReason)).toEqual(['verified', 'completed']);
    expect(lines.length).toBeGreaterThan(5);
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of parsed) {
      expect(line).toMatchObject({
        level: expect.any(String),
        time: expect.any(String),
        message: expect.any(String),
        runId: expect.any(String),
        step: expect.any(String),
      });
    }
    // Warnings from inside a step (the failed tool calls) say which run and step too.
    const warned = parsed.filter((line) => line.message === 'could not publish a runtime event');
    expect(warned.length).toBeGreaterThan(0);
    expect(new Set(warned.map((line) => line.step))).toEqual(new Set(['StartRun', 'FinishRun']));
    // Its failing tools only read, so the model step that asked for them made the calls and logged them.
    const failedRun = runs[1]!.runId;
    expect(new Set(parsed.filter((line) => line.runId === failedRun).map((line) => line.step))).toEqual(
      new Set(['StartRun', 'ModelStep', 'FinishRun']),
    );

    const text = lines.join('\n');
    expect(text).not.toContain(secret);
    for (const run of runs) {
      for (const message of run.messages) {
        for (const block of message.content) {
          const payload =
            block.type === 'text'
              ? block.text
              : block.type === 'tool_call'
                ? JSON.stringify(block.arguments)
                : block.content;
          if (payload.length >= 12)
            expect(text, `a log line carries ${block.type} content of ${run.meta.agent}`).not.toContain(payload);
        }
        expect(text).not.toContain(textOf(message).slice(0, 40) || '\u0000');
      }
    }
  });
});
