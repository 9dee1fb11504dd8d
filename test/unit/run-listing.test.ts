import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { runListPosition, runMetaKey } from '../../adapters/dynamodb/keys.ts';
import { listRuns } from '../../adapters/dynamodb/run-listing.ts';
import { TableClient } from '../../adapters/dynamodb/table-client.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import { TransientError } from '../../core/errors.ts';
import { runMeta } from '../support/run-store-fixtures.ts';

/**
 * What DynamoDB Local never does: leave keys of a BatchGetItem unprocessed (throttling).
 * The status listing asks for them again, and gives up as transient when they stay.
 */

const runs = ['b-3', 'b-2', 'b-1'].map((runId, i) =>
  runMeta({ runId, agent: 'beta', status: 'paused', createdAt: `2026-08-0${3 - i}T00:00:00.000Z` }),
);

/** A run record as the table holds it. */
function item(run: RunMeta) {
  const { input, ...meta } = run;
  return { ...runMetaKey(run.runId), meta, input: JSON.stringify(input) };
}

/** A table whose status index holds `runs` as paused, and whose BatchGetItem answers `unprocessed` keys as left over. */
function tableLeaving(unprocessed: (attempt: number, asked: Array<{ pk: string }>) => number) {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  let batchGets = 0;
  vi.spyOn(db, 'send').mockImplementation((async (command: unknown) => {
    if (command instanceof QueryCommand) {
      const paused = command.input.ExpressionAttributeValues?.[':status'] === 'paused';
      const keys = runs.map((run) => ({
        ...runMetaKey(run.runId),
        status: 'paused',
        gsi1sk: runListPosition(run.createdAt, run.runId),
      }));
      return { Items: paused ? keys : [] };
    }
    if (command instanceof BatchGetCommand) {
      batchGets += 1;
      const asked = Object.values(command.input.RequestItems ?? {})[0]!.Keys as Array<{ pk: string; sk: string }>;
      const left = unprocessed(batchGets, asked);
      const served = asked.slice(left).map((key) => item(runs.find((run) => runMetaKey(run.runId).pk === key.pk)!));
      return {
        Responses: { listing: served },
        ...(left > 0 ? { UnprocessedKeys: { listing: { Keys: asked.slice(0, left) } } } : {}),
      };
    }
    throw new Error(`unexpected command ${String(command)}`);
  }) as never);
  return { table: new TableClient({ client: db, tableName: 'listing' }), batchGets: () => batchGets };
}

describe('listing runs by status when DynamoDB leaves keys unprocessed', () => {
  it('asks again for the keys left over, and lists every run in order', async () => {
    const { table, batchGets } = tableLeaving((attempt, asked) => (attempt === 1 ? asked.length - 1 : 0));
    expect(await listRuns(table, {})).toEqual(runs);
    expect(batchGets()).toBe(2);
  });

  it('fails as transient, naming the table and the count, when keys stay unprocessed', async () => {
    const { table, batchGets } = tableLeaving(() => 1);
    const listing = listRuns(table, { status: 'paused' });
    await expect(listing).rejects.toBeInstanceOf(TransientError);
    await expect(listing).rejects.toThrow(
      'DynamoDB left 1 run records of table listing unread after 5 BatchGetItem attempts (listRuns); try again',
    );
    expect(batchGets()).toBe(5);
  });
});
