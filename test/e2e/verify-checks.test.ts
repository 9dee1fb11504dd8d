import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { runUsage } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { checkerRunId } from '../../core/run/ids.ts';
import { delegateRunId } from '../../core/run/delegate.ts';
import { runToEnd, testHost } from '../support/local-host.ts';

/**
 * `verify.checks` on the local host (real ASL, handlers, DynamoDB Local, bubblewrap, real
 * MCP servers): the tests run in the run's sandbox when the maker says it is done; a
 * failure goes back to the maker with the output's tail and the checker is not called; the
 * checker sees only work whose checks all pass; a hanging check is cut at its timeout.
 */

let host: LocalHost & { stateDir: string };
let sandboxRoot: string;
beforeAll(async () => {
  sandboxRoot = await mkdtemp(join(tmpdir(), 'looprail-e2e-checks-'));
  await chmod(sandboxRoot, 0o711);
  host = await testHost('test/fixtures/checks-org', { sandboxRoot });
});
afterAll(async () => {
  await host?.close();
  await rm(sandboxRoot, { recursive: true, force: true });
});

const checkEvents = (trace: TraceEvent[]) =>
  trace.filter((event) => event.kind === 'verification' && event.role === 'maker');
const checkerEvents = (trace: TraceEvent[]) =>
  trace.filter((event) => event.kind === 'verification' && event.role === 'checker');
const sumCost = (trace: TraceEvent[]) => trace.reduce((total, event) => total + event.costMicros, 0);
const textOf = (message: { content: Array<{ type: string; text?: string }> }) =>
  message.content.map((block) => block.text ?? '').join('');

describe('verify.checks', () => {
  it('sends a failing test run back to the maker with its output tail, and hands work whose checks pass to the checker', async () => {
    const { runId, meta, trace, messages } = await runToEnd(host, 'tester', { task: 'The sum test fails: fix it.' });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'verified', verifyAttempts: 2, modelCalls: 3 });

    // Attempt 1: the tests fail, nothing after them runs, the checker is not called.
    const checks = checkEvents(trace);
    expect(checks.map((event) => [event.name, event.status, event.attempt])).toEqual([
      ['tests', 'fail', 1],
      ['tests', 'pass', 2],
      ['nightly-report', 'pass', 2],
      ['notes-clean', 'pass', 2],
    ]);
    const [failed, passed, report, notes] = checks;
    expect(failed!.sandbox).toMatchObject({ command: 'echo running the suite; seq 1 500; node test.js', exitCode: 1 });
    expect(failed!.sandbox!.durationMs).toBeGreaterThan(0);
    expect(failed!.sandbox!.outputBytes).toBeGreaterThan(2000);
    expect(failed!.detail).toMatch(
      /^`echo running the suite; seq 1 500; node test\.js` exited 1 \(expected 0\) after \d+\.\d\d s\n/,
    );
    // Only the tail is kept (keep_output_bytes: 2000): the assertion message is there, the first line is not.
    expect(failed!.detail).toContain('sum of nothing is 0');
    expect(failed!.detail).toMatch(/the last 2000 bytes of \d+ \(keep_output_bytes: 2000\)/);
    expect(failed!.detail).not.toMatch(/^running the suite$/m);
    expect(failed!.costMicros).toBe(Math.round(failed!.sandbox!.durationMs / 10));
    expect(passed!.sandbox).toMatchObject({ exitCode: 0 });
    expect(passed!.detail).toContain('all tests passed');
    expect(passed!.detail).toMatch(/^running the suite$/m);
    expect(report).toMatchObject({ server: 'reports', tool: 'read_text_file', costMicros: 0 });
    expect(report!.detail).toMatch(/^reports\.read_text_file: the result is ".*PASS.*", as expected/);
    expect(notes!.detail).toMatch(/^notes\.read_graph: \$\.entities is \[\], as expected/);

    // What the maker read after attempt 1: which check, how it failed, the tail of its output.
    const feedback = messages.filter((message) => message.role === 'user').map(textOf);
    expect(feedback[1]).toMatch(
      /^The check "tests" did not pass \(attempt 1 of 2\): `echo running the suite; seq 1 500; node test\.js` exited 1/,
    );
    expect(feedback[1]).toContain('AssertionError [ERR_ASSERTION]: sum of nothing is 0');
    expect(feedback[1]).not.toMatch(/^running the suite$/m);

    // The checker ran once, after every check of attempt 2 passed, and its cost is its own.
    const checker = checkerEvents(trace);
    expect(checker.map((event) => [event.status, event.attempt])).toEqual([['pass', 2]]);
    expect(checker[0]!.childRunId).toBe(checkerRunId(runId, 2));
    const order = trace.map((event) => `${event.kind}:${event.name}`);
    expect(order.indexOf('verification:reviewer')).toBeGreaterThan(order.lastIndexOf('verification:notes-clean'));
    const checkerTrace = await host.deps.store.listTrace(checker[0]!.childRunId!);
    expect(meta.checkerUsage.costMicros).toBe(sumCost(checkerTrace));
    // Sandbox time of the checks is the maker's spend; the totals stay the sum of the trace.
    expect(meta.usage.costMicros).toBe(sumCost(trace.filter((event) => event.role === 'maker')));
    expect(runUsage(meta).costMicros).toBe(sumCost(trace));
    // The check's log never shows in the workspace's diff, and the workspace went with the run.
    const checkerMessages = (await host.deps.store.loadState(checker[0]!.childRunId!))!.messages;
    expect(JSON.stringify(checkerMessages)).not.toContain('looprail-check');
    expect(existsSync(join(sandboxRoot, runId))).toBe(false);
  });

  it('stops verification_failed naming the check that never passed, without calling the checker (its cost is 0)', async () => {
    const { runId, meta, trace, messages } = await runToEnd(host, 'stubborn', { task: 'Fix the sum test.' });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'verification_failed', verifyAttempts: 2 });
    expect(meta.stopDetail).toMatch(
      /^the check "tests" did not pass on the last attempt \(2 of 2\): `node test\.js` exited 1/,
    );
    expect(checkEvents(trace).map((event) => [event.name, event.status, event.attempt])).toEqual([
      ['readme', 'pass', 1],
      ['tests', 'fail', 1],
      ['readme', 'pass', 2],
      ['tests', 'fail', 2],
    ]);
    expect(checkerEvents(trace)).toEqual([]);
    expect(meta.checkerUsage).toMatchObject({ costMicros: 0, inputTokens: 0, outputTokens: 0 });
    // No checker run was even recorded, for either attempt.
    expect(await host.deps.store.getRun(checkerRunId(runId, 1))).toBeUndefined();
    expect(await host.deps.store.getRun(checkerRunId(runId, 2))).toBeUndefined();
    // One feedback message for attempt 1; attempt 2 was the last.
    const feedback = messages.filter((message) => message.role === 'user').map(textOf);
    expect(feedback).toHaveLength(2);
    expect(feedback[1]).toContain('The check "tests" did not pass (attempt 1 of 2)');
    // The maker called no tool: only the check's output, now in its context, made it untrusted.
    expect(trace.filter((event) => event.kind === 'tool_call')).toEqual([]);
    expect(meta.untrusted).toBe(true);
  });

  it('cuts a check that hangs at its timeout, with everything it started, and keeps what it printed until then', async () => {
    const started = Date.now();
    const { meta, trace } = await runToEnd(host, 'hanger', { task: 'Run the slow suite.' });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'verification_failed', verifyAttempts: 1 });
    expect(meta.stopDetail).toContain('the check "slow-suite"');
    expect(meta.stopDetail).toContain('ran longer than its 2 s timeout and was killed, with everything it started');
    const [hung] = checkEvents(trace);
    expect(hung).toMatchObject({ name: 'slow-suite', status: 'fail' });
    expect(hung!.sandbox).toMatchObject({ timedOut: true });
    expect(hung!.sandbox!.exitCode).toBeUndefined();
    expect(hung!.sandbox!.durationMs).toBeGreaterThanOrEqual(2000);
    expect(hung!.sandbox!.durationMs).toBeLessThan(20_000);
    expect(hung!.costMicros).toBeGreaterThan(0);
    expect(hung!.detail).toContain('starting the suite');
    expect(hung!.detail).not.toMatch(/^too-late$/m);
    expect(checkerEvents(trace)).toEqual([]);
  });
});

describe('verify.release', () => {
  it('answers a held call "not yet" before verification, releases it after, and keeps the verified work from changing', async () => {
    const { runId, meta, trace, messages } = await runToEnd(host, 'releaser', {
      task: 'Fix sum() and publish the fix.',
    });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'verified', verifyAttempts: 1, modelCalls: 5 });
    expect(meta.stopDetail).toBe(
      'the checker passed attempt 1; the maker then finished with the tools it released (verify.release)',
    );
    expect(meta.verified).toMatchObject({ attempt: 1 });

    // Before verification: the publish is not made, and says why (an error the model reads, not a policy refusal).
    const publishes = trace.filter((event) => event.kind === 'tool_call' && event.name === 'published.create_entities');
    expect(publishes.map((event) => event.status)).toEqual(['error', 'ok']);
    expect(publishes[0]!.detail).toMatch(
      /^not yet, so the call was not made: published\.create_entities runs only after verification passes \(verify\.release\)/,
    );
    // The held call came before the checks, the released one after the checker passed.
    const order = trace.map((event) => `${event.kind}:${event.name}:${event.status}`);
    const firstPublish = order.indexOf('tool_call:published.create_entities:error');
    const releasedPublish = order.indexOf('tool_call:published.create_entities:ok');
    expect(firstPublish).toBeLessThan(order.indexOf('verification:tests:pass'));
    expect(order.indexOf('verification:reviewer:pass')).toBeLessThan(releasedPublish);

    // The maker was told what verification released, by the names it calls tools with.
    const told = messages.filter((message) => message.role === 'user').map(textOf);
    expect(told.at(-1)).toContain(
      'Verification passed (attempt 1: every check and the reviewer). You may now call published__create_entities.',
    );

    // After verification the work is frozen: the sandbox write is not made, the file keeps the verified fix.
    const lateWrite = trace
      .filter((event) => event.kind === 'tool_call' && event.name === 'sandbox.write_file')
      .at(-1)!;
    expect(lateWrite.status).toBe('error');
    expect(lateWrite.detail).toBe(
      'not made: verification has passed, so the verified work may not change; only published.create_entities, read-only tools and loop memory run now',
    );
    // Nor may a sub-agent change it: the delegation is refused and no child run starts.
    const delegation = trace.find((event) => event.name === 'delegate tweaker')!;
    expect(delegation).toMatchObject({ status: 'denied', detail: lateWrite.detail });
    const delegateCall = messages
      .flatMap((message) => message.content)
      .find((block) => block.type === 'tool_call' && block.name === 'looprail__delegate')!;
    expect(await host.deps.store.getRun(delegateRunId(runId, (delegateCall as { id: string }).id))).toBeUndefined();
    const published = await readFile(join(host.stateDir, 'published.jsonl'), 'utf8');
    expect(published).toContain('sum() starts from 0');
    expect(published).not.toContain('published before verification');
    expect(existsSync(join(sandboxRoot, runId))).toBe(false);
  });
});
