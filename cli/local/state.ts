import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { ensureTable } from '../../adapters/dynamodb/table.ts';
import { openSharedDb } from './shared-db.ts';

/**
 * The local state's store: DynamoDB Local on disk under the state folder, shared by the
 * commands that use it (cli/local/shared-db.ts), or a given endpoint (tests share one).
 * Kept apart from host.ts so the read commands load only this.
 */

export const LOCAL_TABLE = 'looprail-local';

export interface LocalStateOptions {
  stateDir: string;
  dynamodbEndpoint?: string;
  tableName?: string;
  /** `run` and `dev`: hold a database that cannot stop under them. */
  longLived?: boolean;
  /** Told when the database has to be started (a progress line: it takes seconds); what it returns is called once it answers. */
  onStarting?: () => (() => void) | undefined;
}

export async function openLocalState(options: LocalStateOptions) {
  await mkdir(options.stateDir, { recursive: true });
  const shared = options.dynamodbEndpoint
    ? undefined
    : await openSharedDb({
        stateDir: options.stateDir,
        dbPath: join(options.stateDir, 'dynamodb'),
        longLived: options.longLived,
        onStarting: options.onStarting,
      });
  const endpoint = options.dynamodbEndpoint ?? shared!.endpoint;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const tableName = options.tableName ?? LOCAL_TABLE;
  try {
    await ensureTable(client, tableName);
  } catch (error) {
    client.destroy();
    await shared?.release();
    throw error;
  }
  return {
    client,
    tableName,
    store: new DynamoRunStore({ client, tableName }),
    async close() {
      client.destroy();
      await shared?.release();
    },
  };
}
