import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { runUsage } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { runToEnd, testHost } from '../support/local-host.ts';

/**
 * Code mode on the local host (real ASL, handlers, DynamoDB Local, bubblewrap, real MCP
 * servers): one program in the run's sandbox lists and reads two ~50 KB logs through the
 * filesystem server, keeps the failures, records them in the memory server, and prints a
 * summary. Every call it makes goes through the gateway (traced, counted, governed); calls
 * it may not make are refused and recorded; only the printed summary enters the context.
 */

let host: LocalHost & { stateDir: string };
let sandboxRoot: string;
beforeAll(async () => {
  sandboxRoot = await mkdtemp(join(tmpdir(), 'looprail-e2e-code-mode-'));
  await chmod(sandboxRoot, 0o711);
  host = await testHost('test/fixtures/sandbox-org', { sandboxRoot });
});
afterAll(async () => {
  await host?.close();
  await rm(sandboxRoot, { recursive: true, force: true });
});

const sumCost = (trace: TraceEvent[]) => trace.reduce((total, event) => total + event.costMicros, 0);

describe('code mode', () => {
  it("runs one program whose tool calls are bridged through the gateway, and returns only what it prints", async () => {
    const { runId, meta, trace, messages } = await runToEnd(host, 'scripter', { task: 'Triage last night\'s test logs.' });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 2 });

    // The program's calls, each a step of the trace with its own id under the run_code call's.
    const runCode = trace.find((event) => event.kind === 'tool_call' && event.name === 'sandbox.run_code')!;
    expect(runCode.status).toBe('ok');
    expect(runCode.sandbox).toMatchObject({ exitCode: 0 });
    expect(runCode.sandbox!.command).toMatch(/^run_code \(\d+ bytes of JavaScript\)$/);
    const inner = trace.filter((event) => event.callId?.startsWith(`${runCode.callId}.`));
    expect(inner.map((event) => [event.kind, event.name, event.status])).toEqual(
      expect.arrayContaining([
        ['tool_call', 'reports.list_directory', 'ok'],
        ['tool_call', 'reports.read_text_file', 'ok'],
        ['tool_call', 'notes.create_entities', 'ok'],
        ['tool_denied', 'notes__delete_entities', 'denied'],
        ['tool_denied', 'notes__add_observations', 'denied'],
        ['tool_denied', 'sandbox__exec', 'denied'],
      ]),
    );
    expect(inner).toHaveLength(7);
    expect(inner.filter((event) => event.name === 'reports.read_text_file')).toHaveLength(2);
    // Traced before the run_code call that made them, which ended last.
    expect(Math.max(...inner.map((event) => event.seq))).toBeLessThan(runCode.seq);
    const denied = (name: string) => inner.find((event) => event.name === name)!.detail!;
    expect(denied('notes__delete_entities')).toContain('needs a human approval, and a script cannot wait for one');
    expect(denied('notes__add_observations')).toContain('not a tool this agent may use');
    expect(denied('sandbox__exec')).toContain("the sandbox's own tool");

    // Only the printed summary reached the model: not the logs.
    const results = messages.filter((message) => message.role === 'tool').flatMap((message) => message.content);
    expect(results).toHaveLength(1);
    const printed = (results[0] as { content: string; isError: boolean }).content;
    expect((results[0] as { isError: boolean }).isError).toBe(false);
    const summary = JSON.parse(printed.slice(printed.indexOf('\n') + 1)) as { logs: number; failures: string[]; refused: string[] };
    expect(summary.logs).toBe(2);
    expect(summary.failures).toEqual([
      'api-nightly.log: api/orders.test.ts > rejects an empty cart',
      'api-nightly.log: api/users.test.ts > paginates',
      'web-nightly.log: web/cart.spec.ts > shows the total',
    ]);
    expect(summary.refused).toEqual(['notes.delete_entities: refused', 'notes.add_observations: refused', 'sandbox.exec: refused']);
    expect(JSON.stringify(messages)).not.toContain('PASS api/case-');
    expect(printed.length).toBeLessThan(2_000);

    // The write really happened, once, at the memory server.
    const graph = readFileSync(join(host.stateDir, 'sandbox-notes.jsonl'), 'utf8');
    expect(graph.match(/nightly-2026-12-02/g)).toHaveLength(1);
    expect(graph).toContain('web/cart.spec.ts');

    // Counted like direct calls: 4 made (the refusals were not), the run's cost is the sum of its trace.
    expect(meta.toolCalls).toBe(5);
    expect(runUsage(meta).costMicros).toBe(sumCost(trace));
    expect(existsSync(join(sandboxRoot, runId))).toBe(false);
  });
});
