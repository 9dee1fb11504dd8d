import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { runUsage } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import { runToEnd, testHost } from '../support/local-host.ts';

/**
 * Code mode on the local host (real ASL, handlers, DynamoDB Local, bubblewrap, real MCP
 * servers): one program in the run's sandbox lists and reads two ~50 KB logs through the
 * filesystem server, keeps the failures, records them in the memory server, and prints a
 * summary. Every call it makes goes through the gateway (traced, counted, governed); calls
 * it may not make are refused and recorded; only the printed summary enters the context.
 */

/** Where the next run's ToolStep dies (Lambda.Unknown, retried by the ASL): around run_code's recorded outcome, or its step's commit. */
let fault: { write: 'completeSideEffect' | 'commit'; when: 'before' | 'after' } | undefined;
let fired = 0;
/** What the servers received: `tool` per call. */
let received: string[] = [];

function crashingStore(store: RunStore): RunStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const original = Reflect.get(target, property, receiver);
      if (property !== 'completeSideEffect' && property !== 'commit') return original;
      return async (...args: unknown[]) => {
        // run_code's own record (its id has no `.n`), or the commit of the step that wrote run_code's result.
        const armed =
          fault?.write === property &&
          fired === 0 &&
          (property === 'completeSideEffect'
            ? !String(args[1]).includes('.')
            : JSON.stringify(args).includes('sandbox__run_code') && JSON.stringify(args).includes('"role":"tool"'));
        const crash = () => {
          fired += 1;
          return Object.assign(new Error('the function crashed (injected)'), { name: 'Lambda.Unknown' });
        };
        if (armed && fault!.when === 'before') throw crash();
        const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (armed && fault!.when === 'after') throw crash();
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
      received.push(tool);
      return tools.callTool(server, tool, args, options);
    },
  };
}

let host: LocalHost & { stateDir: string };
let sandboxRoot: string;
beforeAll(async () => {
  sandboxRoot = await mkdtemp(join(tmpdir(), 'looprail-e2e-code-mode-'));
  await chmod(sandboxRoot, 0o711);
  host = await testHost('test/fixtures/sandbox-org', {
    sandboxRoot,
    wrapDeps: (deps) => ({ ...deps, store: crashingStore(deps.store), tools: countingTools(deps.tools) }),
  });
});
afterAll(async () => {
  await host?.close();
  await rm(sandboxRoot, { recursive: true, force: true });
});

const sumCost = (trace: TraceEvent[]) => trace.reduce((total, event) => total + event.costMicros, 0);

describe('code mode', () => {
  it('runs one program whose tool calls are bridged through the gateway, and returns only what it prints', async () => {
    const { runId, meta, trace, messages } = await runToEnd(host, 'scripter', {
      task: "Triage last night's test logs.",
    });
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
    const summary = JSON.parse(printed.slice(printed.indexOf('\n') + 1)) as {
      logs: number;
      failures: string[];
      refused: string[];
    };
    expect(summary.logs).toBe(2);
    expect(inner.find((event) => event.name === 'reports.read_text_file')!.detail).toBeUndefined();
    expect(summary.failures).toEqual([
      'api-nightly.log: api/orders.test.ts > rejects an empty cart',
      // Past the 48,000 characters a result keeps in the conversation: a script gets results whole.
      'api-nightly.log: api/search.test.ts > ranks exact matches first',
      'api-nightly.log: api/users.test.ts > paginates',
      'web-nightly.log: web/cart.spec.ts > shows the total',
    ]);
    expect(summary.refused).toEqual([
      'notes.delete_entities: refused',
      'notes.add_observations: refused',
      'sandbox.exec: refused',
    ]);
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

  /** What must not change under a crash: no timestamps or latencies. */
  /** A command's duration is in what the model reads: the one part of a replay that differs between runs. */
  const timeless = (value: unknown) =>
    JSON.parse(JSON.stringify(value).replace(/after \d+\.\d+ s/g, 'after … s')) as unknown;
  const stable = (trace: TraceEvent[]) =>
    trace.map(({ kind, name, status, callId, costMicros }) => ({
      kind,
      name,
      status,
      callId,
      costMicros: kind === 'model_call' ? costMicros : undefined,
    }));

  async function runOnce(injected: typeof fault) {
    fault = injected;
    fired = 0;
    received = [];
    const run = await runToEnd(host, 'scripter', { task: "Triage last night's test logs." });
    return { ...run, fired, received: [...received] };
  }

  it('replays a retried step exactly: a recorded script is not run again, and an unrecorded one is never repeated blindly', async () => {
    const baseline = await runOnce(undefined);
    expect(baseline.received.filter((tool) => tool === 'create_entities')).toHaveLength(1);

    // The script ran and its outcome (with its calls') was recorded; the step died after: the retry reuses it all.
    for (const injected of [
      { write: 'completeSideEffect', when: 'after' },
      { write: 'commit', when: 'before' },
      { write: 'commit', when: 'after' },
    ] as const) {
      const replayed = await runOnce(injected);
      const label = `crash ${injected.when} ${injected.write}`;
      expect(replayed.fired, label).toBe(1);
      expect(replayed.meta.stopReason, label).toBe('completed');
      expect(timeless(replayed.messages), label).toEqual(timeless(baseline.messages));
      expect(
        stable(replayed.trace).map(({ callId, ...rest }) => ({ ...rest, callId: callId?.replace(replayed.runId, '') })),
        label,
      ).toEqual(
        stable(baseline.trace).map(({ callId, ...rest }) => ({ ...rest, callId: callId?.replace(baseline.runId, '') })),
      );
      expect(replayed.received, label).toEqual(baseline.received);
      expect(replayed.meta.toolCalls, label).toBe(baseline.meta.toolCalls);
    }

    // The script ran but its outcome was never recorded: it may have acted, so it is reported in doubt, not run again.
    const doubtful = await runOnce({ write: 'completeSideEffect', when: 'before' });
    expect(doubtful.fired).toBe(1);
    expect(doubtful.meta.stopReason).toBe('completed');
    expect(doubtful.received.filter((tool) => tool === 'create_entities')).toHaveLength(1);
    const runCode = doubtful.trace.filter((event) => event.name === 'sandbox.run_code');
    expect(runCode).toHaveLength(1);
    expect(runCode[0]!.detail).toMatch(/^in doubt:/);
  }, 120_000);
});
