import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { DynamoRunStore, type DynamoRunStoreOptions } from '../../adapters/dynamodb/run-store.ts';
import { ensureTable } from '../../adapters/dynamodb/table.ts';

export interface TestTable {
  client: DynamoDBClient;
  tableName: string;
  store: DynamoRunStore;
}

/** A client for the test run's DynamoDB Local (see dynamodb-global-setup.ts). */
export function testClient(): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: inject('dynamodbEndpoint'),
    region: 'us-east-1',
    // DynamoDB Local accepts any credentials; these keep the SDK from looking for real ones.
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** A fresh, uniquely named table with the production key schema, and a run store on it. */
export async function testTable(options: Omit<DynamoRunStoreOptions, 'client' | 'tableName'> = {}): Promise<TestTable> {
  const client = testClient();
  const tableName = `looprail-test-${randomUUID()}`;
  await ensureTable(client, tableName);
  return { client, tableName, store: new DynamoRunStore({ ...options, client, tableName }) };
}
