import {
  QueryCommand,
  type DynamoDBDocumentClient,
  type NativeAttributeValue,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';

export type Item = Record<string, NativeAttributeValue>;

/**
 * Every page of a Query (one page holds at most 1 MB), shared by the table's adapters.
 * A `Limit` caps the whole read, not each page. `fail` turns an SDK error into the
 * adapter's own (naming its operation, transient or not).
 */
export async function queryPages(
  db: DynamoDBDocumentClient,
  tableName: string,
  input: Omit<QueryCommandInput, 'TableName'>,
  fail: (error: unknown) => Error,
): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    try {
      const page = await db.send(new QueryCommand({ ...input, TableName: tableName, ExclusiveStartKey: startKey }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } catch (error) {
      throw fail(error);
    }
  } while (startKey && (input.Limit === undefined || items.length < input.Limit));
  return items;
}
