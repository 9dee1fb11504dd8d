import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { runUsage } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { runToEnd, testHost } from '../support/local-host.ts';

/**
 * A coding loop in a sandbox of its own, on the local host (real ASL, handlers, DynamoDB
 * Local, bubblewrap): a scripted maker copies a small repository in, runs its failing
 * test, fixes the bug, runs the test again, and a read-only checker inspects the diff and
 * the saved test output before the run ends `verified`.
 */

let host: LocalHost & { stateDir: string };
let sandboxRoot: string;
beforeAll(async () => {
  sandboxRoot = await mkdtemp(join(tmpdir(), 'looprail-e2e-sandboxes-'));
  // The sandbox's own user passes through to its workspace, as it would through /tmp.
  await chmod(sandboxRoot, 0o711);
  host = await testHost('test/fixtures/sandbox-org', { sandboxRoot });
});
afterAll(async () => {
  await host?.close();
  await rm(sandboxRoot, { recursive: true, force: true });
});

const sumCost = (trace: TraceEvent[]) => trace.reduce((total, event) => total + event.costMicros, 0);
const sandboxCalls = (trace: TraceEvent[]) =>
  trace.filter((event) => event.kind === 'tool_call' && event.server === 'sandbox');

describe('a coding loop in a sandbox', () => {
  it('reproduces the failing test, fixes it, proves it, and the read-only checker verifies the diff and the output', async () => {
    const { runId, meta, trace, messages } = await runToEnd(host, 'coder', { task: 'The sum test fails: fix it.' });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'verified', modelCalls: 5, verifyAttempts: 1 });

    const calls = sandboxCalls(trace);
    expect(calls.map((event) => [event.tool, event.status])).toEqual([
      ['list_files', 'ok'],
      ['exec', 'error'],
      ['read_file', 'ok'],
      ['write_file', 'ok'],
      ['exec', 'ok'],
    ]);
    // Each exec on the trace: the command, its exit code, how long it took, what it printed (cut).
    const [failing, passing] = calls.filter((event) => event.tool === 'exec');
    expect(failing!.sandbox).toMatchObject({ command: 'node test.js', exitCode: 1 });
    expect(failing!.detail).toMatch(/^exit code 1/);
    expect(failing!.detail).toContain('sum of nothing is 0');
    expect(passing!.sandbox).toMatchObject({ exitCode: 0 });
    expect(passing!.detail).toContain('all tests passed');
    for (const event of calls) expect(event.sandbox!.durationMs).toBeGreaterThanOrEqual(0);

    // What the maker saw: the copied-in repository (with the task from the input) and the failing test.
    const results = messages.filter((message) => message.role === 'tool').flatMap((message) => message.content);
    expect(JSON.stringify(results[0])).toContain('TASK.md');
    expect(JSON.stringify(results[0])).toContain('src/sum.js');
    expect(results[1]).toMatchObject({ isError: true });

    // verify.checks ran the tests in the same workspace first (role maker, no child run), then the checker.
    const verifications = trace.filter((event) => event.kind === 'verification');
    expect(verifications.map((event) => [event.role, event.name, event.status])).toEqual([
      ['maker', 'tests', 'pass'],
      ['checker', 'reviewer', 'pass'],
    ]);
    expect(verifications[0]!.sandbox).toMatchObject({ command: 'node test.js', exitCode: 0 });
    expect(verifications[0]!.detail).toContain('all tests passed');
    // The checker ran in the same workspace with read-only tools: the diff is the fix, the output is green.
    const checkerRunId = verifications[1]!.childRunId!;
    const checkerTrace = await host.deps.store.listTrace(checkerRunId);
    const checkerCalls = sandboxCalls(checkerTrace);
    expect(checkerCalls.map((event) => [event.tool, event.status])).toEqual([
      ['diff', 'ok'],
      ['read_file', 'ok'],
    ]);
    const checkerMessages = (await host.deps.store.loadState(checkerRunId))!.messages;
    const seen = JSON.stringify(checkerMessages.filter((message) => message.role === 'tool'));
    expect(seen).toContain('-  let total = 1;');
    expect(seen).toContain('+  let total = 0;');
    expect(seen).toContain('+++ b/test-output.txt');
    expect(seen).toContain('all tests passed');
    const checkerTools = (await host.deps.store.loadState(checkerRunId))!
      .context!.tools.map((tool) => tool.name)
      .sort();
    expect(checkerTools).toEqual(['looprail__verdict', 'sandbox__diff', 'sandbox__list_files', 'sandbox__read_file']);

    // Sandbox seconds are priced (100 micro-USD a second) and add up with model spend, exactly.
    const sandboxCost = calls.reduce((total, event) => total + event.costMicros, 0);
    for (const event of calls) expect(event.costMicros).toBe(Math.round(event.sandbox!.durationMs / 10));
    expect(verifications[0]!.costMicros).toBe(Math.round(verifications[0]!.sandbox!.durationMs / 10));
    expect(meta.usage.costMicros).toBe(sumCost(trace.filter((event) => event.role === 'maker')));
    expect(runUsage(meta).costMicros).toBe(sumCost(trace));
    expect(meta.checkerUsage.costMicros).toBe(sumCost(checkerTrace));
    expect(sandboxCost).toBeGreaterThan(0);

    // The workspace went with the run.
    expect(existsSync(join(sandboxRoot, runId))).toBe(false);
  });

  it('removes the sandbox of a run that fails (FailRun), like one that finishes', async () => {
    const { runId, meta, trace } = await runToEnd(host, 'crasher', { task: 'Write a note, then fail.' });
    expect(meta).toMatchObject({ status: 'failed', stopReason: 'error' });
    expect(sandboxCalls(trace).map((event) => [event.tool, event.status])).toEqual([['write_file', 'ok']]);
    expect(existsSync(join(sandboxRoot, runId))).toBe(false);
  });

  it('contains every escape attempt: each is a failed tool call the model reads, and the run goes on to its end', async () => {
    const { runId, meta, trace, messages } = await runToEnd(host, 'escaper', { task: 'Get out.' });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 4 });
    const calls = sandboxCalls(trace);
    expect(calls).toHaveLength(6);
    expect(calls.every((event) => event.status === 'error')).toBe(true);
    const results = messages.filter((message) => message.role === 'tool').flatMap((message) => message.content);
    expect(results.every((result) => result.type === 'tool_result' && result.isError)).toBe(true);
    const text = (i: number) => (results[i] as { content: string }).content;
    expect(text(0)).toContain('No such file or directory');
    expect(text(1)).toContain('ECONNREFUSED');
    expect(text(2)).toMatch(/Read-only file system|Permission denied/);
    // The fork bomb: the process limit starves it (its sleep cannot even start) or the timeout kills the lot.
    expect(calls[3]!.sandbox!.timedOut === true || /Cannot fork|Resource temporarily unavailable/.test(text(3))).toBe(
      true,
    );
    expect(text(4)).toMatch(/^killed: the command printed more than/);
    expect(text(5)).toMatch(/^killed: the command ran longer than its 2 s timeout/);
    expect(existsSync('/usr/pwned') || existsSync('/pwned')).toBe(false);
    expect(existsSync(join(sandboxRoot, runId))).toBe(false);
    expect(await readdir(sandboxRoot)).toEqual([]);
  });
});
