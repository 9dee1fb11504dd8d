import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { testHost } from '../support/local-host.ts';
import { storeRequestCounter } from '../support/store-requests.ts';

/**
 * The DynamoDB requests of one loop iteration (a model step that asks for a tool, and the
 * step that makes the call), counted at the client on DynamoDB Local for the bench's own
 * agents (bench/org): the counts are the code's, not the machine's, so they are asserted
 * exactly. Each step reads its run once and commits once. A read-only call is made by the
 * model step that asked for it, in the same commit; a tool that may write is made by the
 * ToolStep, which adds its side-effect claim before the call (exact replay needs it durable
 * before the call acts) and records its outcome with its commit.
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

  it("makes 5 with a tool that may write: its claim before the call, its record in the ToolStep's commit", async () => {
    for (const iteration of await iterationsOf('bench-loop')) {
      expect(iteration.model.commands).toEqual(['QueryCommand', 'TransactWriteItemsCommand']);
      // The record and the last turn by key (the snapshot with them until this container holds it).
      expect(iteration.tool?.commands).toEqual(['BatchGetItemCommand', 'PutItemCommand', 'TransactWriteItemsCommand']);
      expect({ reads: iteration.reads, writes: iteration.writes }).toEqual({ reads: 2, writes: 3 });
    }
  }, 120_000);
});
