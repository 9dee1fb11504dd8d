import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { SkillRecord } from '../../core/definitions/skills.ts';
import { ConfigurationError, TransientError } from '../../core/errors.ts';
import type { SkillStore, SkillSummary } from '../../core/ports/skill-store.ts';
import {
  KEY_ATTRIBUTES,
  SKILL_VERSION_SK_PREFIX,
  SKILLS_INDEX_PARTITION,
  skillIndexKey,
  skillKey,
  skillPartition,
} from './keys.ts';
import { queryPages, type Item } from './query-pages.ts';
import { errorName, isTransient } from './errors.ts';

/**
 * The skills registry on the run table. One item per published version:
 *   SKILL#<name> / V#<version>   `record` (map): name, version, description, files with
 *                                their hashes, the version hash, publisher, time;
 *                                `fileCount`; GSI `SKILLS` / `<name>#<version>` for listings.
 * Written once with a condition, never updated: a version is immutable.
 */

const SUMMARY_FIELDS = ['name', 'version', 'description', 'sha256', 'publisher', 'publishedAt'] as const;

export class DynamoSkillStore implements SkillStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(options: { client: DynamoDBDocumentClient | DynamoDBClient; tableName: string }) {
    this.db =
      options.client instanceof DynamoDBDocumentClient
        ? options.client
        : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.tableName = options.tableName;
  }

  async putVersion(record: SkillRecord): Promise<'created' | 'exists'> {
    const valid = SkillRecord.parse(record);
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...skillKey(valid.name, valid.version),
            ...skillIndexKey(valid.name, valid.version),
            record: valid,
            fileCount: valid.files.length,
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey },
        }),
      );
      return 'created';
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return 'exists';
      throw this.storeError('putVersion', error);
    }
  }

  async getVersion(name: string, version: string): Promise<SkillRecord | undefined> {
    let item: Item | undefined;
    try {
      item = (
        await this.db.send(
          new GetCommand({ TableName: this.tableName, Key: skillKey(name, version), ConsistentRead: true }),
        )
      ).Item;
    } catch (error) {
      throw this.storeError('getVersion', error);
    }
    if (!item) return undefined;
    // Whatever is stored is read as untrusted: a record that is not one is a configuration problem, not a crash later.
    const parsed = SkillRecord.safeParse(item.record);
    if (!parsed.success)
      throw new ConfigurationError(
        `the registry's item for skill ${name}@${version} is not a skill version: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    return parsed.data;
  }

  async listVersions(name?: string): Promise<SkillSummary[]> {
    const projection = {
      ProjectionExpression: [...SUMMARY_FIELDS.map((_, i) => `#record.#f${i}`), '#fileCount'].join(', '),
      ExpressionAttributeNames: {
        '#record': 'record',
        '#fileCount': 'fileCount',
        ...Object.fromEntries(SUMMARY_FIELDS.map((field, i) => [`#f${i}`, field])),
      },
    };
    const items = name
      ? await this.queryAll({
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: {
            ...projection.ExpressionAttributeNames,
            '#pk': KEY_ATTRIBUTES.partitionKey,
            '#sk': KEY_ATTRIBUTES.sortKey,
          },
          ExpressionAttributeValues: { ':pk': skillPartition(name), ':prefix': SKILL_VERSION_SK_PREFIX },
          ProjectionExpression: projection.ProjectionExpression,
        })
      : await this.queryAll({
          IndexName: KEY_ATTRIBUTES.gsi1Name,
          KeyConditionExpression: '#gpk = :gpk',
          ExpressionAttributeNames: { ...projection.ExpressionAttributeNames, '#gpk': KEY_ATTRIBUTES.gsi1PartitionKey },
          ExpressionAttributeValues: { ':gpk': SKILLS_INDEX_PARTITION },
          ProjectionExpression: projection.ProjectionExpression,
        });
    return items.map((item) => ({
      ...(item.record as Omit<SkillSummary, 'fileCount'>),
      fileCount: Number(item.fileCount ?? 0),
    }));
  }

  private queryAll(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    return queryPages(this.db, this.tableName, input, (error) => this.storeError('listVersions', error));
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
