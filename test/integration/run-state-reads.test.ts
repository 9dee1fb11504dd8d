import { BatchWriteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPartition } from '../../adapters/dynamodb/keys.ts';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import { StepWriter } from '../../core/run/step-writer.ts';
import { testClient, testTable, type TestTable } from '../support/dynamodb.ts';
import { context, runMeta, userMessage } from '../support/run-store-fixtures.ts';

/**
 * How DynamoRunStore reads a run's state: the snapshot once per container (it never changes
 * for a run), the record and the last turn by key when the caller knows the message count.
 */

let table: TestTable;
beforeAll(async () => {
  table = await testTable();
});

/** A store of its own (a container of its own), and each request it sends: command and key range. */
function countedStore() {
  const client = testClient();
  const store = new DynamoRunStore({ client, tableName: table.tableName });
  const sent: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = (args as { input: { ExpressionAttributeValues?: Record<string, unknown> } }).input;
      const from = input.ExpressionAttributeValues?.[':from'] as { S?: string } | string | undefined;
      const text = typeof from === 'string' ? from : from?.S;
      sent.push(`${String(context.commandName)}${text === undefined ? '' : ` from ${text.slice(0, 4)}`}`);
      return next(args);
    },
    { step: 'initialize', name: 'sentCounter' },
  );
  return { store, sent };
}

/** A run started as StartRun starts it: its snapshot and first messages, numbered from 0. */
async function startedRun(store: DynamoRunStore, meta: RunMeta, systemPrompt: string, texts: string[]) {
  await store.createRun(meta);
  const writer = new StepWriter(meta);
  writer.setContext({ ...context, systemPrompt });
  for (const text of texts) writer.addMessage(userMessage(text));
  expect(await writer.commit({ store }, 'model')).toMatchObject({ seq: meta.seq + 1 });
  return writer.meta;
}

/** What DynamoDB's TTL does once a run's retention ends: every item of its partition gone. */
async function expire(runId: string): Promise<void> {
  const doc = DynamoDBDocumentClient.from(table.client);
  const { Items = [] } = await doc.send(
    new QueryCommand({
      TableName: table.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': runPartition(runId) },
    }),
  );
  await doc.send(
    new BatchWriteCommand({
      RequestItems: {
        [table.tableName]: Items.map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } })),
      },
    }),
  );
}

describe("reading a run's state", () => {
  it('reads the snapshot once per container: later loads start at the record', async () => {
    const { store, sent } = countedStore();
    const meta = await startedRun(store, runMeta(), 'You triage issues.', ['task', 'a']);
    sent.length = 0;
    const first = await store.loadState(meta.runId);
    const second = await store.loadState(meta.runId);
    expect(second).toEqual(first);
    expect(first?.context?.systemPrompt).toBe('You triage issues.');
    expect(sent).toEqual(['QueryCommand from CTX', 'QueryCommand from META']);
    // Another container reads it once for itself.
    const other = countedStore();
    expect(await other.store.loadState(meta.runId)).toEqual(first);
    expect(other.sent).toEqual(['QueryCommand from CTX']);
  });

  it('reads the record and the last turn by key in one request when the count is confirmed, else as before', async () => {
    const { store, sent } = countedStore();
    const meta = await startedRun(store, runMeta(), 'You triage issues.', ['task', 'a', 'b']);
    sent.length = 0;
    const byKey = await store.loadState(meta.runId, { lastMessages: 1, messageCount: 3 });
    expect(byKey?.messages).toEqual([userMessage('b')]);
    expect(byKey?.context?.systemPrompt).toBe('You triage issues.');
    expect(await store.loadState(meta.runId, { lastMessages: 1, messageCount: 3 })).toEqual(byKey);
    expect(sent).toEqual(['BatchGetItemCommand', 'BatchGetItemCommand']);
    sent.length = 0;
    // A count the record does not confirm (a control from before a later commit): read by range instead.
    expect(await store.loadState(meta.runId, { lastMessages: 1, messageCount: 2 })).toEqual(byKey);
    expect(sent).toEqual(['BatchGetItemCommand', 'QueryCommand from META', 'QueryCommand from MSG#']);
  });

  it('never answers with a snapshot cached for an earlier run of the same id (its items expired, the id made again)', async () => {
    const { store } = countedStore();
    const earlier = await startedRun(store, runMeta(), 'The earlier definition.', ['task']);
    expect((await store.loadState(earlier.runId))?.context?.systemPrompt).toBe('The earlier definition.');
    await expire(earlier.runId);
    const again = runMeta({ runId: earlier.runId, createdAt: '2026-03-01T08:00:00.000Z' });
    // Not started yet: no snapshot at all, whatever the container holds.
    await store.createRun(again);
    expect((await store.loadState(again.runId))?.context).toBeUndefined();
    // Started as StartRun starts it, with the definition as it is now.
    const writer = new StepWriter(again);
    writer.setContext({ ...context, systemPrompt: 'The new definition.' });
    writer.addMessage(userMessage('task'));
    await writer.commit({ store }, 'model');
    expect((await store.loadState(again.runId))?.context?.systemPrompt).toBe('The new definition.');
    expect((await store.loadState(again.runId, { lastMessages: 1, messageCount: 1 }))?.context?.systemPrompt).toBe(
      'The new definition.',
    );
  });
});
