import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
  type QueryCommandInput,
  type TransactWriteCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { systemClock, type Clock } from '../../core/ports/clock.ts';
import { TransientError } from '../../core/errors.ts';
import { isConditionFailed, storeError } from './errors.ts';
import { KEY_ATTRIBUTES, type TableKey } from './keys.ts';
import { queryPages, type Item } from './query-pages.ts';
import { TABLE_KEY_SCHEMA } from './table.ts';

export interface TableClientOptions {
  /**
   * A plain client is wrapped in a DocumentClient here. A DocumentClient passed in is used
   * as it is, so it needs `removeUndefinedValues: true` (run records have optional fields).
   */
  client: DynamoDBDocumentClient | DynamoDBClient;
  tableName: string;
  /** Trace events expire this long after they are written (DynamoDB TTL); kept forever when unset. */
  traceTtlSeconds?: number;
  clock?: Clock;
}

/** DynamoDB's most keys in one BatchGetItem. */
export const MAX_BATCH_GET = 100;

const BATCH_GET_ATTEMPTS = 5;

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/**
 * The one table as the store's adapters use it: one DocumentClient, the table's name and
 * retention, and one helper per DynamoDB call shape, each translating errors by storeError().
 */
export class TableClient {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  private readonly traceTtlSeconds: number | undefined;
  private readonly clock: Clock;

  constructor(options: TableClientOptions) {
    this.db =
      options.client instanceof DynamoDBDocumentClient
        ? options.client
        : DynamoDBDocumentClient.from(options.client, {
            marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
          });
    this.tableName = options.tableName;
    this.traceTtlSeconds = options.traceTtlSeconds;
    this.clock = options.clock ?? systemClock;
  }

  /** The SDK's error as the state machine should see it (transient, configuration, validation). */
  fail(operation: string, error: unknown): Error {
    return storeError(this.tableName, operation, error);
  }

  /** When an item written now expires (epoch seconds), or undefined when kept forever. */
  traceExpiry(): number | undefined {
    if (this.traceTtlSeconds === undefined) return undefined;
    return Math.floor(this.clock.now().getTime() / 1000) + this.traceTtlSeconds;
  }

  /** The TTL attribute for an item written now, or nothing. */
  expiryAttribute(): Item {
    const expiry = this.traceExpiry();
    return expiry === undefined ? {} : { [TABLE_KEY_SCHEMA.ttlAttribute]: expiry };
  }

  async getItem(operation: string, key: TableKey): Promise<Item | undefined> {
    try {
      const result = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      return result.Item;
    } catch (error) {
      throw this.fail(operation, error);
    }
  }

  /**
   * Up to MAX_BATCH_GET items by key in one BatchGetItem, read consistently, in no particular
   * order; keys not found are left out. Keys DynamoDB leaves unprocessed (throttling) are
   * asked for again, with backoff, a few times; then the read fails as transient, naming
   * `what` was left unread.
   */
  async getItems(
    operation: string,
    keys: Item[],
    options: { what?: string; projection?: { expression: string; names: Record<string, string> } } = {},
  ): Promise<Item[]> {
    const found: Item[] = [];
    let pending = keys;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > BATCH_GET_ATTEMPTS)
        throw new TransientError(
          `DynamoDB left ${pending.length} ${options.what ?? 'items'} of table ${this.tableName} unread after ${BATCH_GET_ATTEMPTS} BatchGetItem attempts (${operation}); try again`,
        );
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
      try {
        const result = await this.db.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: {
                Keys: pending,
                ConsistentRead: true,
                ...(options.projection
                  ? {
                      ProjectionExpression: options.projection.expression,
                      ExpressionAttributeNames: options.projection.names,
                    }
                  : {}),
              },
            },
          }),
        );
        found.push(...(result.Responses?.[this.tableName] ?? []));
        pending = result.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      } catch (error) {
        throw this.fail(operation, error);
      }
    }
    return found;
  }

  /** Puts the item unless one with its key exists; returns whether it wrote. */
  async putIfAbsent(operation: string, item: Item): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw this.fail(operation, error);
    }
  }

  /**
   * One conditional update: its result's attributes, or undefined when the condition failed
   * (the caller's "no", nothing changed).
   */
  async updateIf(
    operation: string,
    input: Omit<UpdateCommandInput, 'TableName'>,
  ): Promise<{ attributes: Item } | undefined> {
    try {
      const result = await this.db.send(new UpdateCommand({ ...input, TableName: this.tableName }));
      return { attributes: result.Attributes ?? {} };
    } catch (error) {
      if (isConditionFailed(error)) return undefined;
      throw this.fail(operation, error);
    }
  }

  /** An unconditional update, or one whose failed condition is an error. */
  async update(operation: string, input: Omit<UpdateCommandInput, 'TableName'>): Promise<void> {
    try {
      await this.db.send(new UpdateCommand({ ...input, TableName: this.tableName }));
    } catch (error) {
      throw this.fail(operation, error);
    }
  }

  /** A transaction as it is: cancellations are the caller's to read (cancellationCodesOf). */
  async transact(items: TransactItem[]): Promise<void> {
    await this.db.send(new TransactWriteCommand({ TransactItems: items }));
  }

  /** Every page of a Query: one page holds at most 1 MB. */
  queryAll(operation: string, input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    return queryPages(this.db, this.tableName, input, (error) => this.fail(operation, error));
  }

  /** History is append-only: an item that already exists means a numbering bug, never an overwrite. */
  putNew(item: Item): TransactItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey },
      },
    };
  }
}
