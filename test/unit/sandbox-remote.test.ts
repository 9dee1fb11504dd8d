import type { LambdaClient } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { OPEN_REUSE_MS, RemoteSandboxes } from '../../adapters/sandbox/remote.ts';
import { SandboxSpec } from '../../core/definitions/sandbox.ts';

/** The steps' provider keeps an opened sandbox briefly: one broker `open` serves a warm container's next calls. */

const spec = SandboxSpec.parse({});
const request = { sandboxId: 'run-1', agent: 'coder', spec, input: {} };
const read = { value: { content: 'x', bytes: 1, truncated: false }, durationMs: 2, usedMs: 9 };

function broker(answer: (op: string) => { payload: unknown; error?: string }) {
  const ops: string[] = [];
  const client = {
    send: async (command: { input: { Payload: Uint8Array } }) => {
      const { op } = JSON.parse(Buffer.from(command.input.Payload).toString('utf8')) as { op: string };
      ops.push(op);
      const { payload, error } = answer(op);
      return { Payload: Buffer.from(JSON.stringify(payload)), ...(error ? { FunctionError: 'Unhandled' } : {}) };
    },
  } as unknown as LambdaClient;
  return { ops, client };
}

describe('RemoteSandboxes', () => {
  it('opens once for the calls of a run within a while, and again after it', async () => {
    let now = 1_000;
    const { ops, client } = broker((op) => ({
      payload: op === 'open' ? { usedMs: 0, createdAt: '2026-12-03T00:00:00.000Z' } : read,
    }));
    const sandboxes = new RemoteSandboxes({ functionName: 'broker', client, now: () => now });
    await (await sandboxes.open(request)).readFile('a', 10);
    await (await sandboxes.open(request)).readFile('a', 10);
    expect(ops).toEqual(['open', 'read', 'read']);
    now += OPEN_REUSE_MS + 1;
    await (await sandboxes.open(request)).readFile('a', 10);
    expect(ops).toEqual(['open', 'read', 'read', 'open', 'read']);
  });

  it('forgets a sandbox an operation found stopped, and after destroy', async () => {
    let stopped = true;
    const { ops, client } = broker((op) =>
      op === 'open'
        ? { payload: { usedMs: 0, createdAt: '2026-12-03T00:00:00.000Z' } }
        : op === 'destroy'
          ? { payload: { stopped: 1 } }
          : stopped
            ? {
                payload: { errorType: 'looprail.SandboxUnavailable', errorMessage: 'run run-1 has no running sandbox' },
                error: 'Unhandled',
              }
            : { payload: read },
    );
    const sandboxes = new RemoteSandboxes({ functionName: 'broker', client });
    await expect((await sandboxes.open(request)).readFile('a', 10)).rejects.toThrow('has no running sandbox');
    stopped = false;
    await (await sandboxes.open(request)).readFile('a', 10);
    await sandboxes.destroy('run-1');
    await sandboxes.open(request);
    expect(ops).toEqual(['open', 'read', 'open', 'read', 'destroy', 'open']);
  });
});
