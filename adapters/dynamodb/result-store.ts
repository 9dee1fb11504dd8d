import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ConfigurationError, TransientError } from '../../core/errors.ts';
import { systemClock, type Clock } from '../../core/ports/clock.ts';
import type { ResultLookup, ResultStore, StoredResult } from '../../core/ports/result-store.ts';
import { KEY_ATTRIBUTES, resultKey, resultPrefix, runPartition } from './keys.ts';
import { TABLE_KEY_SCHEMA } from './table.ts';
import { queryPages, type Item } from './query-pages.ts';
import { errorName, isTransient } from './errors.ts';

/**
 * Offloaded tool results on the run table, in the run's partition:
 *   RES#<callId>#C000000000 …   the text in chunks of at most CHUNK_CHARS UTF-16 units
 *                               (≤ 3 bytes each in UTF-8, so a chunk stays under ~200 KB,
 *                               well below DynamoDB's 400 KB item limit)
 *   RES#<callId>#H              the header (tool, size, chunk count), written last: a
 *                               header means every chunk is in place
 * Items expire with the trace's retention (TTL); a header past its expiry reads as expired
 * even before DynamoDB's sweep removes it.
 */
export const CHUNK_CHARS = 64_000;

export class DynamoResultStore implements ResultStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly ttlSeconds: number | undefined;
  private readonly clock: Clock;

  constructor(options: {
    client: DynamoDBDocumentClient | DynamoDBClient;
    tableName: string;
    ttlSeconds?: number;
    clock?: Clock;
  }) {
    this.db =
      options.client instanceof DynamoDBDocumentClient
        ? options.client
        : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.tableName = options.tableName;
    this.ttlSeconds = options.ttlSeconds;
    this.clock = options.clock ?? systemClock;
  }

  async putResult(runId: string, callId: string, result: StoredResult): Promise<void> {
    const chunks = splitChunks(result.text, CHUNK_CHARS);
    const ttl =
      this.ttlSeconds === undefined
        ? {}
        : { [TABLE_KEY_SCHEMA.ttlAttribute]: Math.floor(this.clock.now().getTime() / 1000) + this.ttlSeconds };
    // Chunks are independent puts (a 1 MB result is 16 of them); the header goes last.
    for (const [index, text] of chunks.entries())
      await this.put('putResult', { ...resultKey(runId, callId, index), text, ...ttl });
    await this.put('putResult', {
      ...resultKey(runId, callId, 'header'),
      tool: result.tool,
      createdAt: result.createdAt,
      chars: result.text.length,
      chunks: chunks.length,
      ...ttl,
    });
  }

  async getResult(runId: string, callId: string): Promise<ResultLookup> {
    const items = await queryPages(
      this.db,
      this.tableName,
      {
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey, '#sk': KEY_ATTRIBUTES.sortKey },
        ExpressionAttributeValues: { ':pk': runPartition(runId), ':prefix': resultPrefix(callId) },
        ConsistentRead: true,
      },
      (error) => this.storeError('getResult', error),
    );
    const header = items.find((item) => item.sk === resultKey(runId, callId, 'header').sk);
    if (!header) return { state: 'missing' };
    const expiresAt = header[TABLE_KEY_SCHEMA.ttlAttribute];
    if (typeof expiresAt === 'number' && expiresAt * 1000 <= this.clock.now().getTime()) return { state: 'expired' };
    const chunks = items.filter((item) => item !== header).map((item) => String(item.text));
    // Chunks expire with the header, but the sweep removes items one by one: a partial result is an expired one.
    if (chunks.length !== header.chunks) return { state: 'expired' };
    return {
      state: 'found',
      result: { tool: String(header.tool), createdAt: String(header.createdAt), text: chunks.join('') },
    };
  }

  private async put(operation: string, item: Item): Promise<void> {
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: item }));
    } catch (error) {
      throw this.storeError(operation, error);
    }
  }

  private storeError(operation: string, error: unknown): Error {
    const message = error instanceof Error ? error.message : String(error);
    if (isTransient(error))
      return new TransientError(`DynamoDB ${operation} failed with ${errorName(error)}: ${message}`, { cause: error });
    if (errorName(error) === 'ResourceNotFoundException')
      return new ConfigurationError(`DynamoDB table ${this.tableName} does not exist (${operation})`, { cause: error });
    return error instanceof Error ? error : new Error(`DynamoDB ${operation} failed: ${message}`);
  }
}

/** Splits text into pieces of at most `size` UTF-16 units, never between the halves of a surrogate pair. */
export function splitChunks(text: string, size: number): string[] {
  if (text.length === 0) return [''];
  const chunks: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + size, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    chunks.push(text.slice(start, end));
    start = end;
  }
  return chunks;
}
