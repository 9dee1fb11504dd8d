import { describe, expect, it } from 'vitest';
import type { BrokerRequest } from '../../adapters/sandbox/broker-protocol.ts';
import { openBrokered, ROUND_BYTES } from '../../adapters/sandbox/brokered.ts';
import { SandboxSpec } from '../../core/definitions/sandbox.ts';
import { SandboxCallError } from '../../core/errors.ts';
import type { ScriptToolCall } from '../../core/ports/sandbox.ts';

/**
 * The Sandbox both AWS providers share (adapters/sandbox/brokered.ts), over a scripted
 * broker: a script's rounds, its tool calls through the bridge (at most four at once),
 * and the meter kept from every answer.
 */

const spec = SandboxSpec.parse({});
const done = (usedMs: number) => ({
  state: 'done',
  scriptId: 's1',
  value: {
    exitCode: 0,
    timedOut: false,
    outputFlood: false,
    output: 'ok\n',
    outputBytes: 3,
    truncated: false,
    durationMs: 40,
    toolCalls: 6,
  },
  durationMs: 40,
  usedMs,
});

function scripted(answers: Array<(request: BrokerRequest) => unknown>) {
  const sent: BrokerRequest[] = [];
  const send = async (request: BrokerRequest) => {
    sent.push(request);
    const next = answers.shift();
    if (!next) throw new Error(`no answer scripted for ${request.op}`);
    return next(request);
  };
  return { sent, send };
}

describe('a brokered sandbox', () => {
  it('runs a script in rounds, bridging its calls four at a time, in order, a failing bridge becoming a failed call', async () => {
    const calls = Array.from({ length: 6 }, (_, i) => ({
      callId: `c${i}`,
      name: i === 5 ? 'demo.broken' : 'demo.echo',
      arguments: { i },
    }));
    const broker = scripted([
      () => ({ usedMs: 5, createdAt: '2026-12-03T00:00:00.000Z' }),
      () => ({ state: 'running', scriptId: 's1' }),
      () => ({ state: 'calls', scriptId: 's1', calls }),
      () => done(120),
    ]);
    let inFlight = 0;
    let most = 0;
    const release: Array<() => void> = [];
    const bridge = async (call: ScriptToolCall) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => release.push(resolve));
      inFlight -= 1;
      if (call.name === 'demo.broken') throw new Error('the gateway is down');
      return { content: `echo ${String(call.arguments.i)}`, isError: false };
    };
    const sandbox = await openBrokered(broker.send, { sandboxId: 'run-1', agent: 'coder', spec, input: {} });
    expect(sandbox.usedMs()).toBe(5);
    const running = sandbox.runScript({ code: 'await tools.call("demo.echo")', cwd: '.', timeoutSeconds: 30 }, bridge);
    // Let the bridge fill up, then release one call at a time.
    while (release.length < 4) await new Promise((resolve) => setImmediate(resolve));
    expect(most).toBe(4);
    while (broker.sent.length < 4) {
      release.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const result = await running;
    expect(most).toBe(4);
    expect(result).toEqual({ value: done(0).value, durationMs: 40 });
    expect(sandbox.usedMs()).toBe(120);

    expect(broker.sent.map((request) => request.op)).toEqual([
      'open',
      'script_start',
      'script_results',
      'script_results',
    ]);
    // Nothing to hand back after a quiet round; then every call's result, in the order asked.
    expect(broker.sent[2]).toMatchObject({ op: 'script_results', scriptId: 's1', request: { results: [] } });
    const results = (broker.sent[3] as Extract<BrokerRequest, { op: 'script_results' }>).request.results;
    expect(results.map((result) => result.callId)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
    expect(results[0]).toEqual({ callId: 'c0', content: 'echo 0', isError: false });
    expect(results[5]).toEqual({ callId: 'c5', content: 'the tool call failed: the gateway is down', isError: true });
  });

  it('hands big results back over several rounds, each within a Lambda Invoke, in the order asked', async () => {
    const calls = Array.from({ length: 6 }, (_, i) => ({ callId: `c${i}`, name: 'logs.read', arguments: { i } }));
    const broker = scripted([
      () => ({ usedMs: 0, createdAt: '2026-12-03T00:00:00.000Z' }),
      () => ({ state: 'calls', scriptId: 's1', calls }),
      () => ({ state: 'running', scriptId: 's1' }),
      () => ({ state: 'running', scriptId: 's1' }),
      () => done(10),
    ]);
    // Six results of 1.5 MB each (the script's cap is 1,000,000 characters; multi-byte text makes them bigger).
    const big = 'é'.repeat(750_000);
    const sandbox = await openBrokered(broker.send, { sandboxId: 'run-1', agent: 'coder', spec, input: {} });
    await sandbox.runScript({ code: '…', cwd: '.', timeoutSeconds: 30 }, async () => ({
      content: big,
      isError: false,
    }));
    const rounds = broker.sent.filter(
      (request): request is Extract<BrokerRequest, { op: 'script_results' }> => request.op === 'script_results',
    );
    expect(rounds.map((round) => round.request.results.map((result) => result.callId))).toEqual([
      ['c0', 'c1'],
      ['c2', 'c3'],
      ['c4', 'c5'],
    ]);
    for (const round of rounds) expect(Buffer.byteLength(JSON.stringify(round))).toBeLessThan(ROUND_BYTES + 4096);
  });

  it('refuses an answer outside the protocol with a call error, and keeps the meter of each answer', async () => {
    const broker = scripted([
      () => ({ usedMs: 0, createdAt: '2026-12-03T00:00:00.000Z' }),
      () => ({ value: { entries: ['a'], truncated: false }, durationMs: 3, usedMs: 7 }),
      () => ({ value: { content: 'x' }, durationMs: 1, usedMs: 8 }),
    ]);
    const sandbox = await openBrokered(broker.send, { sandboxId: 'run-2', agent: 'coder', spec, input: {} });
    expect(await sandbox.listFiles('.', 2, 10)).toEqual({ value: { entries: ['a'], truncated: false }, durationMs: 3 });
    expect(sandbox.usedMs()).toBe(7);
    const error = await sandbox.readFile('a', 10).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(SandboxCallError);
    expect((error as Error).message).toBe(
      "the sandbox's answer to read is not what the protocol says (value.bytes: Invalid input: expected number, received undefined; value.truncated: Invalid input: expected boolean, received undefined)",
    );
    expect(sandbox.usedMs()).toBe(7);
  });
});
