import { QueryCommand, ScanCommand, type NativeAttributeValue } from '@aws-sdk/lib-dynamodb';
import type { RunMeta } from '../../core/definitions/run.ts';
import { ValidationError } from '../../core/errors.ts';
import type { RunQuery } from '../../core/ports/store/runs.ts';
import { KEY_ATTRIBUTES, RUN_META_SK, RUN_PARTITION_PREFIX, agentRunsPartition, runIndexKey } from './keys.ts';
import type { Item } from './query-pages.ts';
import { TABLE_KEY_SCHEMA } from './table.ts';
import type { TableClient } from './table-client.ts';

/** Listings of run records: by agent on the run index, across agents by a scan. */

const DEFAULT_LIST_LIMIT = 50;

export async function listRuns(table: TableClient, query: RunQuery): Promise<RunMeta[]> {
  const limit = query.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1)
    throw new ValidationError(`limit must be a whole number above 0, got ${limit}`);
  if (query.agent !== undefined) return queryRunsOfAgent(table, query.agent, limit, query);
  if (query.agents !== undefined) {
    // Each agent's newest `limit` (after the cursor), merged: the page is the newest `limit` of them all.
    const perAgent = await Promise.all(
      [...new Set(query.agents)].map((agent) => queryRunsOfAgent(table, agent, limit, query)),
    );
    return newestFirst(perAgent.flat()).slice(0, limit);
  }
  // The index's order everywhere: creation time, then run id (ISO times have a fixed length).
  const after = query.cursor ? listPosition(query.cursor) : undefined;
  const runs = (await scanRunRecords(table)).filter(
    (run) =>
      (query.status === undefined || run.status === query.status) &&
      (query.role === undefined || run.role === query.role) &&
      matchesRunFilters(run, query) &&
      (after === undefined || listPosition(run) < after),
  );
  return newestFirst(runs).slice(0, limit);
}

/** The run record with its input, which is stored as text beside it. */
export function metaOf(item: Item): RunMeta {
  const meta = item.meta as RunMeta;
  return { ...meta, input: typeof item.input === 'string' ? JSON.parse(item.input) : meta.input };
}

/** A run's place in listings: the run index's sort key, which orders by creation time, then run id. */
function listPosition(run: { createdAt: string; runId: string }): string {
  return runIndexKey('-', run.createdAt, run.runId).gsi1sk;
}

function newestFirst(runs: RunMeta[]): RunMeta[] {
  return runs
    .map((run) => ({ run, position: listPosition(run) }))
    .sort((a, b) => (a.position < b.position ? 1 : a.position > b.position ? -1 : 0))
    .map(({ run }) => run);
}

/** The filters beyond status and role, for listings that read run records directly. */
function matchesRunFilters(run: RunMeta, query: RunQuery): boolean {
  return (
    (query.stopReason === undefined || run.stopReason === query.stopReason) &&
    (query.triggerKind === undefined || run.trigger?.kind === query.triggerKind) &&
    (query.createdFrom === undefined || run.createdAt >= query.createdFrom) &&
    (query.createdBefore === undefined || run.createdAt < query.createdBefore)
  );
}

type ListFilters = Omit<RunQuery, 'agent' | 'agents' | 'limit' | 'cursor'>;

/** Each filter of a listing as a FilterExpression term: the attribute path (under the item) and the comparison. */
const FILTER_TERMS: { [K in keyof Required<ListFilters>]: { path: string[]; op: '=' | '>=' | '<' } } = {
  status: { path: ['status'], op: '=' },
  role: { path: ['meta', 'role'], op: '=' },
  stopReason: { path: ['meta', 'stopReason'], op: '=' },
  triggerKind: { path: ['meta', 'trigger', 'kind'], op: '=' },
  createdFrom: { path: ['meta', 'createdAt'], op: '>=' },
  createdBefore: { path: ['meta', 'createdAt'], op: '<' },
};

function filterExpression(
  query: ListFilters,
  names: Record<string, string>,
  values: Record<string, NativeAttributeValue>,
): string | undefined {
  const terms: string[] = [];
  for (const [field, { path, op }] of Object.entries(FILTER_TERMS)) {
    const value = query[field as keyof ListFilters];
    if (value === undefined) continue;
    for (const part of path) names[`#${part}`] = part;
    values[`:${field}`] = value;
    terms.push(`${path.map((part) => `#${part}`).join('.')} ${op} :${field}`);
  }
  return terms.length > 0 ? terms.join(' AND ') : undefined;
}

/**
 * The run index, newest first, until `limit` runs. Limit counts items read, before the
 * filter, so keep paging; it also means a page never returns more than `limit` runs.
 */
async function queryRunsOfAgent(
  table: TableClient,
  agent: string,
  limit: number,
  query: Omit<RunQuery, 'agent' | 'agents' | 'limit'>,
): Promise<RunMeta[]> {
  const names: Record<string, string> = { '#gpk': TABLE_KEY_SCHEMA.gsi1.partitionKey };
  const values: Record<string, NativeAttributeValue> = { ':agent': agentRunsPartition(agent) };
  let keyCondition = '#gpk = :agent';
  if (query.cursor) {
    keyCondition += ' AND #gsk < :after';
    names['#gsk'] = TABLE_KEY_SCHEMA.gsi1.sortKey;
    values[':after'] = runIndexKey(agent, query.cursor.createdAt, query.cursor.runId).gsi1sk;
  }
  const { cursor: _cursor, ...filters } = query;
  const filter = filterExpression(filters, names, values);
  const runs: RunMeta[] = [];
  let startKey: Item | undefined;
  do {
    try {
      const page = await table.db.send(
        new QueryCommand({
          TableName: table.tableName,
          IndexName: TABLE_KEY_SCHEMA.gsi1.indexName,
          KeyConditionExpression: keyCondition,
          FilterExpression: filter,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: limit - runs.length,
          ExclusiveStartKey: startKey,
        }),
      );
      runs.push(...(page.Items ?? []).map(metaOf));
      startKey = page.LastEvaluatedKey;
    } catch (error) {
      throw table.fail('listRuns', error);
    }
  } while (startKey && runs.length < limit);
  return runs;
}

/**
 * Every run record in the table. A Scan reads the whole table (trace events included),
 * so its cost grows with the table: fine for the local host and small deployments.
 * Listing across agents at scale wants its own index partition (e.g. by day).
 */
async function scanRunRecords(table: TableClient): Promise<RunMeta[]> {
  const runs: RunMeta[] = [];
  let startKey: Item | undefined;
  do {
    try {
      const page = await table.db.send(
        new ScanCommand({
          TableName: table.tableName,
          FilterExpression: '#sk = :meta AND begins_with(#pk, :run)',
          ProjectionExpression: '#meta',
          ExpressionAttributeNames: {
            '#pk': KEY_ATTRIBUTES.partitionKey,
            '#sk': KEY_ATTRIBUTES.sortKey,
            '#meta': 'meta',
          },
          ExpressionAttributeValues: { ':meta': RUN_META_SK, ':run': RUN_PARTITION_PREFIX },
          ExclusiveStartKey: startKey,
        }),
      );
      runs.push(...(page.Items ?? []).map(metaOf));
      startKey = page.LastEvaluatedKey;
    } catch (error) {
      throw table.fail('listRuns', error);
    }
  } while (startKey);
  return runs;
}
