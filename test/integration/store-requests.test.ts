import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { testHost } from '../support/local-host.ts';
import { storeRequestCounter } from '../support/store-requests.ts';

/**
 * The DynamoDB requests of one loop iteration (a model step that asks for a tool, and the
 * tool step that runs it), counted at the client on DynamoDB Local for the bench's own
 * agents (bench/org): the counts are the code's, not the machine's, so they are asserted
 * exactly. Each step reads its run once and commits once; a tool that may write adds its
 * side-effect claim before the call and its record after, which exact replay needs.
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
  it('makes 4 with a read-only tool: one read and one commit per step', async () => {
    for (const iteration of await iterationsOf('bench-read')) {
      expect(iteration.model.commands).toEqual(['QueryCommand', 'TransactWriteItemsCommand']);
      // The record and the last turn by key, the snapshot with them until this container holds it.
      expect(iteration.tool.commands).toEqual(['BatchGetItemCommand', 'TransactWriteItemsCommand']);
      expect({ reads: iteration.reads, writes: iteration.writes }).toEqual({ reads: 2, writes: 2 });
    }
  }, 120_000);

  it('makes 6 with a tool that may write: its claim before the call and its record after, apart from the commit', async () => {
    for (const iteration of await iterationsOf('bench-loop')) {
      expect(iteration.model.commands).toEqual(['QueryCommand', 'TransactWriteItemsCommand']);
      expect(iteration.tool.commands).toEqual([
        'BatchGetItemCommand',
        'PutItemCommand',
        'UpdateItemCommand',
        'TransactWriteItemsCommand',
      ]);
      expect({ reads: iteration.reads, writes: iteration.writes }).toEqual({ reads: 2, writes: 4 });
    }
  }, 120_000);
});
