import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { runUsage } from '../../core/definitions/run.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { testHost } from '../support/local-host.ts';
import { DEMO_TOOL_CALLS } from '../support/demo-trace.ts';

/** The demo loop in agents/ (what `npm run demo` runs), on real MCP servers from npm. */

let host: LocalHost;
const logLines: string[] = [];
beforeAll(async () => {
  host = await testHost('agents', { log: jsonLogger('info', (line) => logLines.push(line)) });
});
afterAll(async () => {
  await host?.close();
});

describe('the morning triage demo', () => {
  it('reads the CI reports, records a note, is checked by its reviewer, and ends verified', async () => {
    const { runId, meta } = await host.run({ agent: 'morning-triage', input: { repo: 'acme/shop' } });
    expect(meta).toMatchObject({ stopReason: 'verified', modelCalls: 6, toolCalls: 6, verifyAttempts: 2 });
    const trace = await host.deps.store.listTrace(runId);
    expect(trace.filter((e) => e.kind === 'tool_call').map((e) => [e.name, e.status])).toEqual(DEMO_TOOL_CALLS);
    const state = await host.deps.store.loadState(runId);
    const results = JSON.stringify(state!.messages.filter((m) => m.role === 'tool'));
    expect(results).toContain('nightly-2026-11-23.log');
    expect(results).toContain('discount applied twice');
    // The reviewer read the note the maker wrote, through the memory server.
    const check = trace.filter((e) => e.kind === 'verification').at(-1)!;
    const review = await host.deps.store.loadState(check.childRunId!);
    expect(JSON.stringify(review!.messages)).toContain('@acme/payments');
    expect(runUsage(meta).costMicros).toBeGreaterThan(0);
    // The write tools the org declared destructive are not even visible to this agent (it denies delete_*).
    expect(state!.context!.tools.map((t) => t.name)).not.toContain('team-memory__delete_entities');
  });

  it('logs one structured line per step, with ids and no payloads', async () => {
    const { runId } = await host.run({ agent: 'morning-triage', input: { repo: 'acme/shop' } });
    const lines = logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.runId === runId);
    expect(lines.map((line) => line.step)).toContain('ModelStep');
    expect(
      lines.every((line) => line.level === 'info' && line.message === 'step done' && typeof line.ms === 'number'),
    ).toBe(true);
    const text = logLines.join('\n');
    expect(text).not.toContain('discount applied twice'); // a tool result
    expect(text).not.toContain('You triage last night'); // the instructions
  });
});
