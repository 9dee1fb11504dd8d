import type { RateLimitStore } from '../../core/ports/store/rate-limits.ts';
import { rateWindowKey } from './keys.ts';
import { TABLE_KEY_SCHEMA } from './table.ts';
import type { TableClient } from './table-client.ts';

/** Rate windows on the table: one counter item per subject and window, expiring after it. */
export class DynamoRateLimits implements RateLimitStore {
  private readonly table: TableClient;

  constructor(table: TableClient) {
    this.table = table;
  }

  async takeRateToken(subject: string, windowStart: string, limit: number, expiresAt: number): Promise<boolean> {
    const taken = await this.table.updateIf('takeRateToken', {
      Key: rateWindowKey(subject, windowStart),
      // One conditional update: concurrent callers can never push the count past the limit.
      UpdateExpression: 'ADD #count :one SET #ttl = if_not_exists(#ttl, :ttl)',
      ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
      ExpressionAttributeNames: { '#count': 'count', '#ttl': TABLE_KEY_SCHEMA.ttlAttribute },
      ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': expiresAt },
    });
    return taken !== undefined;
  }
}
