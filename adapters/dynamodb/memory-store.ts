import { DeleteCommand, PutCommand, type PutCommandInput } from '@aws-sdk/lib-dynamodb';
import type { LedgerItem } from '../../core/memory/ledger.ts';
import type { HandoffNote } from '../../core/memory/notes.ts';
import type { MemoryStore, OperatorAction } from '../../core/ports/memory-store.ts';
import { isConditionFailed } from './errors.ts';
import {
  KEY_ATTRIBUTES,
  LEDGER_ITEM_SK_PREFIX,
  ledgerItemKey,
  memoryPartition,
  NOTE_SK_PREFIX,
  noteKey,
  OPERATOR_ACTION_SK_PREFIX,
  operatorActionKey,
} from './keys.ts';
import type { Item } from './query-pages.ts';
import { TableClient, type TableClientOptions } from './table-client.ts';

/**
 * Loop memory on the one table, in one partition per agent:
 *   MEM#<agent> / ITEM#<id>       a ledger item, `version` bumped by every write
 *   MEM#<agent> / NOTE#<version>  a handoff note version, written once
 *   MEM#<agent> / OP#<at>#<by>    an operator's action
 * Every write is conditional (the version read, or a free key), so racing runs never both
 * win; `expiresAt` is the table's TTL attribute (the agent's memory.retention).
 */
export class DynamoMemoryStore implements MemoryStore {
  private readonly table: TableClient;

  constructor(options: Pick<TableClientOptions, 'client' | 'tableName' | 'clock'>) {
    this.table = new TableClient(options);
  }

  async getItem(agent: string, id: string): Promise<LedgerItem | undefined> {
    const item = await this.table.getItem('getLedgerItem', ledgerItemKey(agent, id));
    return item ? (strip(item) as LedgerItem) : undefined;
  }

  async listItems(agent: string): Promise<LedgerItem[]> {
    const items = await this.prefixed('listLedgerItems', agent, LEDGER_ITEM_SK_PREFIX, { forward: true });
    return items.map((item) => strip(item) as LedgerItem);
  }

  async putItemIf(item: LedgerItem, expectedVersion: number): Promise<boolean> {
    const condition: Pick<
      PutCommandInput,
      'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    > =
      expectedVersion === 0
        ? {
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey },
          }
        : {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': expectedVersion },
          };
    const record = { ...item, ...ledgerItemKey(item.agent, item.id) };
    return this.conditional('putLedgerItem', () =>
      this.table.db.send(new PutCommand({ TableName: this.table.tableName, Item: record, ...condition })),
    );
  }

  async deleteItemIf(agent: string, id: string, expectedVersion: number): Promise<boolean> {
    return this.conditional('deleteLedgerItem', () =>
      this.table.db.send(
        new DeleteCommand({
          TableName: this.table.tableName,
          Key: ledgerItemKey(agent, id),
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      ),
    );
  }

  async listNotes(agent: string, limit: number): Promise<HandoffNote[]> {
    const items = await this.prefixed('listNotes', agent, NOTE_SK_PREFIX, { forward: false, limit });
    return items.map((item) => strip(item) as HandoffNote);
  }

  putNoteIf(note: HandoffNote): Promise<boolean> {
    return this.table.putIfAbsent('putNote', { ...note, ...noteKey(note.agent, note.version) });
  }

  async putOperatorAction(action: OperatorAction): Promise<void> {
    // Kept as long as the ledger's own items would be at most: the TTL of the longest retention is not known here.
    await this.table.putIfAbsent('putOperatorAction', {
      ...action,
      ...operatorActionKey(action.agent, action.at, `${action.action}:${action.itemId ?? ''}`, action.by),
    });
  }

  async listOperatorActions(agent: string, limit: number): Promise<OperatorAction[]> {
    const items = await this.prefixed('listOperatorActions', agent, OPERATOR_ACTION_SK_PREFIX, {
      forward: false,
      limit,
    });
    return items.map((item) => strip(item) as OperatorAction);
  }

  private prefixed(
    operation: string,
    agent: string,
    prefix: string,
    options: { forward: boolean; limit?: number },
  ): Promise<Item[]> {
    return this.table.queryAll(operation, {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.partitionKey, '#sk': KEY_ATTRIBUTES.sortKey },
      ExpressionAttributeValues: { ':pk': memoryPartition(agent), ':prefix': prefix },
      ScanIndexForward: options.forward,
      ConsistentRead: true,
      ...(options.limit === undefined ? {} : { Limit: options.limit }),
    });
  }

  /** A conditional write: true when it wrote, false when its condition failed (nothing changed). */
  private async conditional(operation: string, send: () => Promise<unknown>): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw this.table.fail(operation, error);
    }
  }
}

/** The stored record without its table keys. */
function strip(item: Item): Item {
  const { [KEY_ATTRIBUTES.partitionKey]: _pk, [KEY_ATTRIBUTES.sortKey]: _sk, ...rest } = item;
  return rest;
}
