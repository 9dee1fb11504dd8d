import {
  CreateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { KEY_ATTRIBUTES } from './keys.ts';

/**
 * The table's shape, shared by the CDK stack (infra/) and by `ensureTable` (the local
 * host and tests), so the deployed table and the local one cannot drift apart.
 */
export const TABLE_KEY_SCHEMA = {
  partitionKey: KEY_ATTRIBUTES.partitionKey,
  sortKey: KEY_ATTRIBUTES.sortKey,
  /** Runs by agent and time. Projects ALL attributes: listing runs needs the whole record. */
  gsi1: {
    indexName: KEY_ATTRIBUTES.gsi1Name,
    partitionKey: KEY_ATTRIBUTES.gsi1PartitionKey,
    sortKey: KEY_ATTRIBUTES.gsi1SortKey,
  },
  /** Epoch seconds; set on trace events when a retention is configured. */
  ttlAttribute: 'expiresAt',
} as const;

export interface EnsureTableOptions {
  /** How long to wait for the table to become ACTIVE. */
  maxWaitSeconds?: number;
}

/**
 * Creates the table if it does not exist and waits until it is ACTIVE. Safe to call on
 * every start and from several processes at once: "already exists" is success.
 *
 * On AWS the table belongs to the CDK stack; this is for DynamoDB Local.
 */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  options: EnsureTableOptions = {},
): Promise<void> {
  const created = await createTableIfMissing(client, tableName);
  // DynamoDB Local answers ACTIVE at once; the first check of the waiter returns immediately.
  await waitUntilTableExists(
    { client, maxWaitTime: options.maxWaitSeconds ?? 120, minDelay: 1, maxDelay: 5 },
    { TableName: tableName },
  );
  // Only the caller that created the table turns TTL on: enabling it twice is an error.
  if (created) await enableTtl(client, tableName);
}

async function createTableIfMissing(client: DynamoDBClient, tableName: string): Promise<boolean> {
  const { partitionKey, sortKey, gsi1 } = TABLE_KEY_SCHEMA;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: partitionKey, AttributeType: 'S' },
          { AttributeName: sortKey, AttributeType: 'S' },
          { AttributeName: gsi1.partitionKey, AttributeType: 'S' },
          { AttributeName: gsi1.sortKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: gsi1.indexName,
            KeySchema: [
              { AttributeName: gsi1.partitionKey, KeyType: 'HASH' },
              { AttributeName: gsi1.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceInUseException') return false;
    throw error;
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
