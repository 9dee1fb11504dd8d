import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KEY_ATTRIBUTES } from '../adapters/dynamodb/keys.ts';

/**
 * The read and write request units the run store's requests would bill on an on-demand
 * table, worked out from the item sizes at the client under the store (DynamoDB Local's
 * own ConsumedCapacity is wrong for transactions: one small Put in a transaction reports
 * 4 units, two report 4 as well). The rules are DynamoDB's published ones:
 * - item size: attribute names plus values (numbers ~ digits/2 + 1 bytes, lists and maps
 *   3 bytes plus 1 per element);
 * - a write: 1 unit per started KB of the item; an update bills the larger of the item
 *   before and after, so updates use the larger of the size last seen before the write
 *   and the size at the end of the run (an upper bound for items that grow);
 * - a transaction: 2 units per KB for every item in it, condition checks included;
 * - the GSI projects ALL: a write to an item carrying the GSI key also writes the index
 *   (1 unit per KB; a changed index key would cost one more, not counted);
 * - a read: the returned items' sizes summed, 1 unit per started 4 KB when strongly
 *   consistent, half when eventually consistent, at least that much for nothing found;
 *   a BatchGetItem bills each item on its own, rounded up to 4 KB.
 */

type Item = Record<string, AttributeValue>;

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, element) => sum + 1 + valueBytes(element), 0);
  if (value.M !== undefined)
    return (
      3 +
      Object.entries(value.M).reduce(
        (sum, [name, element]) => sum + 1 + Buffer.byteLength(name) + valueBytes(element),
        0,
      )
    );
  return 0;
}

function numberBytes(text: string): number {
  const digits = text.replace(/^[-+]/, '').replace('.', '').replace(/e.*$/i, '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** The same sizes for a value the document client has already unmarshalled (reads come back that way at this step). */
function plainBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number' || typeof value === 'bigint') return numberBytes(String(value));
  if (typeof value === 'boolean' || value === null || value === undefined) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) return [...value].reduce((sum: number, element) => sum + plainBytes(element), 0);
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, element) => sum + 1 + plainBytes(element), 0);
  if (typeof value === 'object' && 'value' in value && Object.keys(value).length === 1)
    return numberBytes(String((value as { value: unknown }).value));
  return (
    3 +
    Object.entries(value as object).reduce(
      (sum, [name, element]) => sum + 1 + Buffer.byteLength(name) + plainBytes(element),
      0,
    )
  );
}

const ATTRIBUTE_TYPES = new Set(['S', 'N', 'B', 'BOOL', 'NULL', 'M', 'L', 'SS', 'NS', 'BS']);
const isMarshalled = (item: Record<string, unknown>) =>
  Object.values(item).every(
    (value) =>
      value !== null &&
      typeof value === 'object' &&
      Object.keys(value).length === 1 &&
      ATTRIBUTE_TYPES.has(Object.keys(value)[0]!),
  );

export function itemBytes(item: Item | Record<string, unknown>): number {
  const marshalled = isMarshalled(item);
  return Object.entries(item).reduce(
    (sum, [name, value]) =>
      sum + Buffer.byteLength(name) + (marshalled ? valueBytes(value as AttributeValue) : plainBytes(value)),
    0,
  );
}

const keyPart = (value: unknown) =>
  value !== null && typeof value === 'object' && 'S' in value ? (value as { S: string }).S : String(value);
const keyOf = (key: Record<string, unknown>) =>
  `${keyPart(key[KEY_ATTRIBUTES.partitionKey])}\u0000${keyPart(key[KEY_ATTRIBUTES.sortKey])}`;
const hasIndexKey = (item: Record<string, unknown> | undefined) =>
  item?.[KEY_ATTRIBUTES.gsi1PartitionKey] !== undefined;

interface PendingWrite {
  key: string;
  transactional: boolean;
  /** Known when the request carries the whole item (a Put). */
  item?: Item;
  /** The size last seen before the write (updates, deletes, condition checks). */
  before?: number;
  beforeIndexed?: boolean;
}

export interface CapacityTotals {
  readUnits: number;
  writeUnits: number;
  /** Of writeUnits: what transactions billed (2 per KB per item). */
  transactionalWriteUnits: number;
  /** Of writeUnits: the GSI's share. */
  indexWriteUnits: number;
  reads: number;
  writes: number;
}

/** Counts on `client` from now on; `reset()` forgets, `totals()` settles the updates' sizes against the table. */
export function countCapacity(client: DynamoDBClient, tableName: string) {
  let readUnits = 0;
  let reads = 0;
  let pending: PendingWrite[] = [];
  let scanning = false;
  const lastSeen = new Map<string, { bytes: number; indexed: boolean }>();
  const see = (item: Record<string, unknown>) =>
    lastSeen.set(keyOf(item), { bytes: itemBytes(item), indexed: hasIndexKey(item) });
  const touch = (key: Item, transactional: boolean) => {
    const seen = lastSeen.get(keyOf(key));
    pending.push({ key: keyOf(key), transactional, before: seen?.bytes, beforeIndexed: seen?.indexed });
  };

  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (scanning) return next(args);
      const command = context.commandName;
      // biome-ignore lint/suspicious/noExplicitAny: the SDK middleware hands over untyped wire shapes
      const input = args.input as Record<string, any>;
      const written = pending.length;
      if (command === 'PutItemCommand')
        pending.push({ key: keyOf(input.Item), transactional: false, item: input.Item });
      else if (command === 'UpdateItemCommand' || command === 'DeleteItemCommand') touch(input.Key, false);
      else if (command === 'TransactWriteItemsCommand') {
        // biome-ignore lint/suspicious/noExplicitAny: the SDK middleware hands over untyped wire shapes
        for (const entry of input.TransactItems as Array<Record<string, any>>) {
          if (entry.Put) pending.push({ key: keyOf(entry.Put.Item), transactional: true, item: entry.Put.Item });
          else touch((entry.Update ?? entry.Delete ?? entry.ConditionCheck).Key, true);
        }
      }
      const result = await next(args);
      // biome-ignore lint/suspicious/noExplicitAny: the SDK middleware hands over untyped wire shapes
      const output = result.output as Record<string, any>;
      if (command === 'QueryCommand' || command === 'GetItemCommand') {
        const items: Item[] = command === 'QueryCommand' ? (output.Items ?? []) : output.Item ? [output.Item] : [];
        for (const item of items) see(item);
        const units = Math.max(1, Math.ceil(items.reduce((sum, item) => sum + itemBytes(item), 0) / 4096));
        readUnits += input.ConsistentRead ? units : units / 2;
        reads += 1;
      }
      if (command === 'BatchGetItemCommand') {
        // Each item of a batch is billed on its own, rounded up to 4 KB; a key not found still bills the minimum.
        for (const [table, asked] of Object.entries(
          input.RequestItems as Record<string, { Keys: Item[]; ConsistentRead?: boolean }>,
        )) {
          const items: Item[] = output.Responses?.[table] ?? [];
          for (const item of items) see(item);
          const found = items.reduce((sum, item) => sum + Math.max(1, Math.ceil(itemBytes(item) / 4096)), 0);
          const units =
            found + Math.max(0, asked.Keys.length - items.length - (output.UnprocessedKeys?.[table]?.Keys.length ?? 0));
          readUnits += asked.ConsistentRead ? units : units / 2;
        }
        reads += 1;
      }
      for (const write of pending.slice(written)) if (write.item) see(write.item);
      return result;
    },
    // After the document client has marshalled the input; before it unmarshalls the output.
    { step: 'build', name: 'benchCapacity' },
  );

  return {
    reset() {
      readUnits = 0;
      reads = 0;
      pending = [];
    },
    async totals(): Promise<CapacityTotals> {
      scanning = true;
      let final: Map<string, { bytes: number; indexed: boolean }>;
      try {
        final = await itemSizes(client, tableName);
      } finally {
        scanning = false;
      }
      return { readUnits, ...writeUnitsOf(pending, final), reads, writes: pending.length };
    },
  };
}

/** Every item's size now, and whether the GSI holds it: a scan, not counted. */
async function itemSizes(
  client: DynamoDBClient,
  tableName: string,
): Promise<Map<string, { bytes: number; indexed: boolean }>> {
  const final = new Map<string, { bytes: number; indexed: boolean }>();
  let ExclusiveStartKey: Item | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey }));
    for (const item of page.Items ?? []) final.set(keyOf(item), { bytes: itemBytes(item), indexed: hasIndexKey(item) });
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return final;
}

/** An update is charged for the larger of the item before and after it (so is its GSI copy). */
function writeUnitsOf(
  pending: PendingWrite[],
  final: Map<string, { bytes: number; indexed: boolean }>,
): Pick<CapacityTotals, 'writeUnits' | 'transactionalWriteUnits' | 'indexWriteUnits'> {
  let writeUnits = 0;
  let transactionalWriteUnits = 0;
  let indexWriteUnits = 0;
  for (const write of pending) {
    const after = final.get(write.key);
    const bytes = write.item ? itemBytes(write.item) : Math.max(write.before ?? 0, after?.bytes ?? 0);
    const indexed = write.item ? hasIndexKey(write.item) : Boolean(write.beforeIndexed || after?.indexed);
    const kb = Math.max(1, Math.ceil(bytes / 1024));
    const table = write.transactional ? 2 * kb : kb;
    writeUnits += table;
    if (write.transactional) transactionalWriteUnits += table;
    if (indexed) {
      writeUnits += kb;
      indexWriteUnits += kb;
    }
  }
  return { writeUnits, transactionalWriteUnits, indexWriteUnits };
}
