import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type AttributeDefinition,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';
import { KEY_ATTRIBUTES } from './keys.ts';

/**
 * The table's shape, shared by the CDK stack (infra/) and by `ensureTable` (the local
 * host and tests), so the deployed table and the local one cannot drift apart.
 */
export const TABLE_KEY_SCHEMA = {
  partitionKey: KEY_ATTRIBUTES.partitionKey,
  sortKey: KEY_ATTRIBUTES.sortKey,
  /** Runs by agent and time, rollups by dimension and day, skills. ALL: a listing reads whole records from it. */
  gsi1: {
    indexName: KEY_ATTRIBUTES.gsi1Name,
    partitionKey: KEY_ATTRIBUTES.gsi1PartitionKey,
    sortKey: KEY_ATTRIBUTES.gsi1SortKey,
    projection: 'ALL',
  },
  /**
   * Runs by status and time, across agents (sparse: only run records have both keys).
   * KEYS_ONLY: a step's commit rewrites its run record without touching the keys, so this
   * index is written only when a run changes status, never per step, and no status partition
   * grows hot; a listing reads the records themselves by key (BatchGetItem).
   */
  statusIndex: {
    indexName: KEY_ATTRIBUTES.statusIndexName,
    partitionKey: KEY_ATTRIBUTES.statusIndexPartitionKey,
    sortKey: KEY_ATTRIBUTES.gsi1SortKey,
    projection: 'KEYS_ONLY',
  },
  /** Epoch seconds; set on trace events when a retention is configured. */
  ttlAttribute: 'expiresAt',
} as const;

export type GlobalIndexSchema = (typeof TABLE_KEY_SCHEMA)['gsi1' | 'statusIndex'];

/** Every global secondary index of the table, for whatever creates it (ensureTable, infra/constructs/run-table.ts). */
export const GLOBAL_INDEXES: readonly GlobalIndexSchema[] = [TABLE_KEY_SCHEMA.gsi1, TABLE_KEY_SCHEMA.statusIndex];

export interface EnsureTableOptions {
  /** How long to wait for the table to become ACTIVE. */
  maxWaitSeconds?: number;
}

/**
 * Creates the table if it does not exist and waits until it is ACTIVE. Safe to call on
 * every start and from several processes at once: "already exists" is success.
 *
 * A table made by an older version (a local host's state on disk) gets the indexes it lacks,
 * built by DynamoDB from the items it holds, before this returns.
 *
 * On AWS the table belongs to the CDK stack; this is for DynamoDB Local.
 */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  options: EnsureTableOptions = {},
): Promise<void> {
  const maxWaitSeconds = options.maxWaitSeconds ?? 120;
  const created = await createTableIfMissing(client, tableName);
  // DynamoDB Local answers ACTIVE at once; the first check of the waiter returns immediately.
  await waitUntilTableExists(
    { client, maxWaitTime: maxWaitSeconds, minDelay: 1, maxDelay: 5 },
    { TableName: tableName },
  );
  // Only the caller that created the table turns TTL on: enabling it twice is an error.
  if (created) await enableTtl(client, tableName);
  else await addMissingIndexes(client, tableName, maxWaitSeconds);
}

function attributeDefinitions(attributes: string[]): AttributeDefinition[] {
  return [...new Set(attributes)].map((name) => ({ AttributeName: name, AttributeType: 'S' }));
}

function indexDefinition(index: GlobalIndexSchema): GlobalSecondaryIndex {
  return {
    IndexName: index.indexName,
    KeySchema: [
      { AttributeName: index.partitionKey, KeyType: 'HASH' },
      { AttributeName: index.sortKey, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: index.projection },
  };
}

async function createTableIfMissing(client: DynamoDBClient, tableName: string): Promise<boolean> {
  const { partitionKey, sortKey } = TABLE_KEY_SCHEMA;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attributeDefinitions([
          partitionKey,
          sortKey,
          ...GLOBAL_INDEXES.flatMap((index) => [index.partitionKey, index.sortKey]),
        ]),
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: GLOBAL_INDEXES.map(indexDefinition),
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceInUseException') return false;
    throw error;
  }
}

/** One index at a time (DynamoDB creates one per UpdateTable), each waited for until ACTIVE. */
async function addMissingIndexes(client: DynamoDBClient, tableName: string, maxWaitSeconds: number): Promise<void> {
  const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const existing = new Set((described.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  for (const index of GLOBAL_INDEXES) {
    if (existing.has(index.indexName)) continue;
    try {
      await client.send(
        new UpdateTableCommand({
          TableName: tableName,
          AttributeDefinitions: attributeDefinitions([index.partitionKey, index.sortKey]),
          GlobalSecondaryIndexUpdates: [{ Create: indexDefinition(index) }],
        }),
      );
    } catch (error) {
      // Another process started the same index first: wait for it like for our own.
      if (!(error instanceof Error && /already exists|ResourceInUse/.test(`${error.name} ${error.message}`)))
        throw error;
    }
    await waitForIndex(client, tableName, index.indexName, maxWaitSeconds);
  }
}

async function waitForIndex(
  client: DynamoDBClient,
  tableName: string,
  indexName: string,
  maxWaitSeconds: number,
): Promise<void> {
  const deadline = Date.now() + maxWaitSeconds * 1000;
  for (;;) {
    const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const index = described.Table?.GlobalSecondaryIndexes?.find((each) => each.IndexName === indexName);
    if (index?.IndexStatus === 'ACTIVE') return;
    if (Date.now() > deadline)
      throw new Error(
        `index ${indexName} of table ${tableName} is not ACTIVE after ${maxWaitSeconds}s (status ${index?.IndexStatus ?? 'missing'})`,
      );
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function enableTtl(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TABLE_KEY_SCHEMA.ttlAttribute, Enabled: true },
    }),
  );
}
