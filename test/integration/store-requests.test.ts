import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { testHost } from '../support/local-host.ts';
import { storeRequestCounter } from '../support/store-requests.ts';

/**
 * The DynamoDB requests of one loop iteration (a model step that asks for a tool, and the
 * step that makes the call), counted at the client on DynamoDB Local for the bench's own
 * agents (bench/org): the counts are the code's, not the machine's, so they are asserted
 * exactly. The model step reads the run once and makes the turn's calls itself: a read-only
 * call's result is committed with the answer; a tool that may write is made after the
 * answer is committed, with its side-effect claim before the call and its record after
 * (which exact replay needs), and its result committed last.
 */

const counter = storeRequestCounter();
let host: LocalHost;
beforeAll(async () => {
  host = await testHost('bench/org', { wrapHandlers: counter.wrapHandlers });
  counter.attach(host.dynamodb);
});
afterAll(async () => {
  await host?.close();
});

async function iterationsOf(agent: string) {
  counter.reset();
  const result = await host.run({ agent, input: {} });
  expect(result.meta.stopReason).toBe('max_steps');
  const iterations = counter.iterations();
  expect(iterations).toHaveLength(50);
  return iterations;
}

describe('store requests per loop iteration', () => {
  it('makes 2 with a read-only tool: the model step reads the run, calls the tool and commits both', async () => {
    for (const iteration of await iterationsOf('bench-read')) {
      expect(iteration.model.commands).toEqual(['QueryCommand', 'TransactWriteItemsCommand']);
      expect(iteration.tool).toBeUndefined();
      expect({ reads: iteration.reads, writes: iteration.writes }).toEqual({ reads: 1, writes: 1 });
    }
  }, 120_000);

  it('makes 5 with a tool that may write: the model step commits the answer, claims the call, records it, and commits its result', async () => {
    for (const iteration of await iterationsOf('bench-loop')) {
      expect(iteration.model.commands).toEqual([
        'QueryCommand',
        'TransactWriteItemsCommand',
        'PutItemCommand',
        'UpdateItemCommand',
        'TransactWriteItemsCommand',
      ]);
      expect(iteration.tool).toBeUndefined();
      expect({ reads: iteration.reads, writes: iteration.writes }).toEqual({ reads: 1, writes: 4 });
    }
  }, 120_000);

  it('makes 6 when the ToolStep makes the write (a call that might outlast what the model call left of the step)', async () => {
    for (const iteration of await iterationsOf('bench-loop-slow')) {
      expect(iteration.model.commands).toEqual(['QueryCommand', 'TransactWriteItemsCommand']);
      // The record and the last turn by key (the snapshot with them until this container holds it).
      expect(iteration.tool?.commands).toEqual([
        'BatchGetItemCommand',
        'PutItemCommand',
        'UpdateItemCommand',
        'TransactWriteItemsCommand',
      ]);
      expect({ reads: iteration.reads, writes: iteration.writes }).toEqual({ reads: 2, writes: 4 });
    }
  }, 120_000);
});
