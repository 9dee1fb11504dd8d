import { QueryCommand, type NativeAttributeValue } from '@aws-sdk/lib-dynamodb';
import { RunStatus, type RunMeta } from '../../core/definitions/run.ts';
import { ValidationError } from '../../core/errors.ts';
import { INPUT_LEFT_OUT_KEY, jsonTextDepthProblem, MAX_JSON_DEPTH } from '../../core/limits/json-shape.ts';
import type { RunQuery } from '../../core/ports/store/runs.ts';
import {
  KEY_ATTRIBUTES,
  RUN_META_SK,
  RUN_PARTITION_PREFIX,
  agentRunsPartition,
  runIndexKey,
  runListCreatedAt,
  runListPosition,
} from './keys.ts';
import type { Item } from './query-pages.ts';
import { TABLE_KEY_SCHEMA } from './table.ts';
import { MAX_BATCH_GET, type TableClient } from './table-client.ts';

/**
 * Listings of run records, always by Query (roles are granted no Scan): by agent on the run
 * index, across agents on the status index, one Query per status asked for.
 */

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
  // Each status's newest `limit` (all five statuses when none is asked for), merged the same way.
  const statuses = query.status === undefined ? RunStatus.options : [query.status];
  const perStatus = await Promise.all(statuses.map((status) => queryRunsWithStatus(table, status, limit, query)));
  return newestFirst(perStatus.flat()).slice(0, limit);
}

/** The run record with its input, which is stored as text beside it. */
export function metaOf(item: Item): RunMeta {
  const meta = item.meta as RunMeta;
  return { ...meta, input: typeof item.input === 'string' ? storedInput(item.input) : meta.input };
}

/**
 * An input stored before inputs were limited may nest deeper than anything that walks it
 * can bear (a clone, a commit, an answer): it is read as a note saying so, and the run can
 * still be shown, cancelled or ended (StartRun ends it).
 */
function storedInput(text: string): unknown {
  const deep = jsonTextDepthProblem(text, MAX_JSON_DEPTH, 'input');
  if (!deep) return JSON.parse(text);
  return { [INPUT_LEFT_OUT_KEY]: `${deep.message}; it was recorded before runs' inputs were limited` };
}

/** A run's place in listings: the run indexes' sort key, which orders by creation time, then run id. */
function listPosition(run: { createdAt: string; runId: string }): string {
  return runListPosition(run.createdAt, run.runId);
}

function newestFirst(runs: RunMeta[]): RunMeta[] {
  return runs
    .map((run) => ({ run, position: listPosition(run) }))
    .sort((a, b) => (a.position < b.position ? 1 : a.position > b.position ? -1 : 0))
    .map(({ run }) => run);
}

/** The filters beyond status, for listings that read run records directly. */
function matchesRunFilters(run: RunMeta, query: RunQuery): boolean {
  return (
    (query.role === undefined || run.role === query.role) &&
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
 * One status's runs on the status index, newest first, until `limit` runs. The index holds
 * keys only: each page of keys outside the cursor and time window is dropped, the rest read
 * by key (consistently), and a record whose status has moved on since is left to the
 * partition it is in now, so a run is listed once even while the index catches up.
 */
async function queryRunsWithStatus(
  table: TableClient,
  status: RunStatus,
  limit: number,
  query: Omit<RunQuery, 'agent' | 'agents' | 'limit'>,
): Promise<RunMeta[]> {
  const { statusIndex } = TABLE_KEY_SCHEMA;
  const range = sortKeyRange(query);
  if (range === undefined) return [];
  const runs: RunMeta[] = [];
  let startKey: Item | undefined;
  do {
    let page: { Items?: Item[]; LastEvaluatedKey?: Item };
    try {
      page = await table.db.send(
        new QueryCommand({
          TableName: table.tableName,
          IndexName: statusIndex.indexName,
          KeyConditionExpression: `#status = :status${range.condition}`,
          ExpressionAttributeNames: {
            '#status': statusIndex.partitionKey,
            ...(range.condition ? { '#gsk': statusIndex.sortKey } : {}),
          },
          ExpressionAttributeValues: { ':status': status, ...range.values },
          ScanIndexForward: false,
          // One BatchGetItem reads a page's records: a page holds at most as many keys.
          Limit: Math.min(MAX_BATCH_GET, limit - runs.length),
          ExclusiveStartKey: startKey,
        }),
      );
    } catch (error) {
      throw table.fail('listRuns', error);
    }
    const keys = (page.Items ?? []).filter(
      (key) => isRunRecordKey(key) && inWindow(String(key[statusIndex.sortKey]), query),
    );
    const records = await readRunRecords(table, keys);
    runs.push(...records.filter((run) => run.status === status && matchesRunFilters(run, query)));
    startKey = page.LastEvaluatedKey;
  } while (startKey && runs.length < limit);
  return runs;
}

/**
 * The sort-key range to read: every key the cursor and time window keep, perhaps a few more
 * (inWindow drops them). A run's key is `<createdAt>#<runId>`, so `key >= createdFrom` holds
 * for every run created from then on; `key < createdBefore` holds for every run created
 * before it when createdBefore has no character at or below `#` (an ISO time has none).
 */
function sortKeyRange(
  query: Pick<RunQuery, 'cursor' | 'createdFrom' | 'createdBefore'>,
): { condition: string; values: Record<string, string> } | undefined {
  const uppers = [
    ...(query.cursor ? [listPosition(query.cursor)] : []),
    ...(query.createdBefore !== undefined && !/[\u0000-#]/.test(query.createdBefore) ? [query.createdBefore] : []),
  ];
  const upper = uppers.sort()[0];
  const lower = query.createdFrom;
  if (lower !== undefined && upper !== undefined) {
    // An empty window (DynamoDB refuses a BETWEEN whose ends are reversed); BETWEEN includes
    // its upper end, and inWindow drops the cursor's own run.
    if (upper < lower) return undefined;
    return { condition: ' AND #gsk BETWEEN :lower AND :upper', values: { ':lower': lower, ':upper': upper } };
  }
  if (upper !== undefined) return { condition: ' AND #gsk < :upper', values: { ':upper': upper } };
  if (lower !== undefined) return { condition: ' AND #gsk >= :lower', values: { ':lower': lower } };
  return { condition: '', values: {} };
}

/** Exactly the cursor and time filters, on a run's key alone. */
function inWindow(position: string, query: Pick<RunQuery, 'cursor' | 'createdFrom' | 'createdBefore'>): boolean {
  const createdAt = runListCreatedAt(position);
  return (
    (query.cursor === undefined || position < listPosition(query.cursor)) &&
    (query.createdFrom === undefined || createdAt >= query.createdFrom) &&
    (query.createdBefore === undefined || createdAt < query.createdBefore)
  );
}

/** Only run records carry the status index's keys; anything else found there is not listed. */
function isRunRecordKey(key: Item): boolean {
  const pk = key[KEY_ATTRIBUTES.partitionKey];
  return key[KEY_ATTRIBUTES.sortKey] === RUN_META_SK && typeof pk === 'string' && pk.startsWith(RUN_PARTITION_PREFIX);
}

/**
 * The run records of index keys, in the keys' order; a record gone since (its retention
 * ended) is skipped.
 */
async function readRunRecords(table: TableClient, keys: Item[]): Promise<RunMeta[]> {
  const { partitionKey, sortKey } = KEY_ATTRIBUTES;
  const items = await table.getItems(
    'listRuns',
    keys.map((key) => ({ [partitionKey]: key[partitionKey], [sortKey]: key[sortKey] })),
    {
      what: 'run records',
      projection: {
        expression: '#pk, #meta, #input',
        names: { '#pk': partitionKey, '#meta': 'meta', '#input': 'input' },
      },
    },
  );
  const found = new Map(items.map((item) => [String(item[partitionKey]), metaOf(item)]));
  return keys.flatMap((key) => found.get(String(key[partitionKey])) ?? []);
}
