import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import type { BoxAccount } from '../model.ts';
import {
  arn,
  type BoxService,
  type CallContext,
  type GatewayRequest,
  jsonBody,
  ServiceError,
  type ServiceResponse,
  targetOperation,
} from './wire.ts';

/**
 * DynamoDB (awsJson 1.0, `DynamoDB_20120810.*`): each request is authorized item by item as
 * DynamoDB does (a transaction's Put/Update/Delete/ConditionCheck as PutItem/UpdateItem/
 * DeleteItem/ConditionCheckItem on that item's table; an IndexName as `table/X/index/Y`), with
 * the `dynamodb:LeadingKeys` the request names (the partition key values of its items, or of a
 * table Query's key condition), then forwarded to DynamoDB Local and its answer relayed byte for
 * byte (x-amz-crc32 included).
 */

const PREFIX = 'DynamoDB_20120810';

/** Operations on one table named by TableName, authorized as `dynamodb:<Operation>`. */
const TABLE_OPERATIONS = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'DescribeTable',
  'CreateTable',
  'DeleteTable',
  'UpdateTable',
  'DescribeTimeToLive',
  'UpdateTimeToLive',
  'DescribeContinuousBackups',
  'ListTagsOfResource',
]);

const TRANSACT_WRITE_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

export interface DynamoAuthorization {
  action: string;
  resources: string[];
  /** The partition key values the request touches (`dynamodb:LeadingKeys`), when it names any. */
  leadingKeys?: string[];
}

/** A table's partition key attribute, by table name (undefined: no LeadingKeys are supplied). */
export type PartitionKeyOf = (tableName: string) => string | undefined;

type AttributeValue = Record<string, unknown>;

/** The IAM actions and resources a DynamoDB request needs, as DynamoDB authorizes them. */
export function dynamodbAuthorizations(
  account: BoxAccount,
  operation: string,
  body: Record<string, any>,
  partitionKeyOf: PartitionKeyOf = () => undefined,
): DynamoAuthorization[] {
  const table = (name: string) => (name.startsWith('arn:') ? name : arn(account, 'dynamodb', `table/${name}`));
  const keyOf = (tableName: string, item: Record<string, AttributeValue> | undefined) => {
    const attribute = partitionKeyOf(tableName.split('/').pop() ?? tableName);
    return attribute && item?.[attribute] ? [scalarOf(item[attribute])] : [];
  };
  const withKeys = (authorization: DynamoAuthorization, keys: string[]) =>
    keys.length > 0 ? { ...authorization, leadingKeys: [...new Set(keys)] } : authorization;
  if (TABLE_OPERATIONS.has(operation)) {
    const name = String(body.TableName ?? body.ResourceArn ?? '');
    const base = table(name);
    const resource = body.IndexName ? `${base}/index/${body.IndexName}` : base;
    const keys =
      operation === 'PutItem'
        ? keyOf(name, body.Item)
        : operation === 'Query' && !body.IndexName
          ? queriedKeys(body, partitionKeyOf(name))
          : keyOf(name, body.Key);
    return [withKeys({ action: `dynamodb:${operation}`, resources: [resource] }, keys)];
  }
  if (operation === 'ListTables') return [{ action: 'dynamodb:ListTables', resources: ['*'] }];
  if (operation === 'BatchGetItem' || operation === 'BatchWriteItem') {
    const requests = Object.entries<any>(body.RequestItems ?? {});
    const keys = requests.flatMap(([name, request]) =>
      operation === 'BatchGetItem'
        ? (request.Keys ?? []).flatMap((key: Record<string, AttributeValue>) => keyOf(name, key))
        : (request ?? []).flatMap((write: any) => keyOf(name, write.PutRequest?.Item ?? write.DeleteRequest?.Key)),
    );
    return [withKeys({ action: `dynamodb:${operation}`, resources: requests.map(([name]) => table(name)) }, keys)];
  }
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const byAction = new Map<string, { resources: Set<string>; keys: string[] }>();
    for (const item of (body.TransactItems ?? []) as Record<string, Record<string, any>>[]) {
      const [kind, detail] = Object.entries(item)[0] ?? [];
      const action = operation === 'TransactGetItems' ? 'dynamodb:GetItem' : TRANSACT_WRITE_ACTIONS[kind ?? ''];
      if (!action || !detail) throw new ServiceError('ValidationException', `unknown transaction item ${kind}`);
      const entry = byAction.get(action) ?? { resources: new Set<string>(), keys: [] };
      entry.resources.add(table(detail.TableName));
      entry.keys.push(...keyOf(detail.TableName, detail.Item ?? detail.Key));
      byAction.set(action, entry);
    }
    return [...byAction].map(([action, { resources, keys }]) => withKeys({ action, resources: [...resources] }, keys));
  }
  throw new ServiceError('UnknownOperationException', `the box does not serve dynamodb ${operation}`);
}

/** An attribute value as IAM compares it: the string of an S, N or B. */
function scalarOf(value: AttributeValue | undefined): string {
  const [, scalar] = Object.entries(value ?? {})[0] ?? [];
  return String(scalar ?? '');
}

/** The partition key value a table Query's `KeyConditionExpression` pins (`pk = :v`, names resolved). */
function queriedKeys(body: Record<string, any>, partitionKey: string | undefined): string[] {
  if (!partitionKey) return [];
  const names = (body.ExpressionAttributeNames ?? {}) as Record<string, string>;
  for (const [, name, value] of String(body.KeyConditionExpression ?? '').matchAll(/(#?[\w.]+)\s*=\s*(:\w+)/g)) {
    if ((names[name!] ?? name) === partitionKey) return [scalarOf(body.ExpressionAttributeValues?.[value!])];
  }
  return [];
}

export function dynamodbService(dynamodbUrl: string | undefined, partitionKeyOf?: PartitionKeyOf): BoxService {
  return {
    name: 'dynamodb',
    signingName: 'dynamodb',
    protocol: 'awsJson1_0',
    operation: (request) => targetOperation(request, PREFIX),
    async handle(operation: string, call: CallContext): Promise<ServiceResponse> {
      if (!dynamodbUrl) throw new ServiceError('UnknownOperationException', 'the box has no DynamoDB Local');
      for (const each of dynamodbAuthorizations(call.account, operation, jsonBody(call.request), partitionKeyOf)) {
        const context = each.leadingKeys ? { 'dynamodb:LeadingKeys': each.leadingKeys } : undefined;
        await call.authorize(each.action, each.resources, context);
      }
      return forward(dynamodbUrl, call.request);
    },
  };
}

const RELAYED = ['content-type', 'x-amz-crc32', 'x-amzn-requestid', 'x-amzn-errortype'];

async function forward(dynamodbUrl: string, request: GatewayRequest): Promise<ServiceResponse> {
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'x-amz-target', 'authorization', 'x-amz-date']) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const answer = await fetch(dynamodbUrl, { method: 'POST', headers, body: request.body });
  const relayed: Record<string, string> = {};
  for (const name of RELAYED) {
    const value = answer.headers.get(name);
    if (value !== null) relayed[name] = value;
  }
  return { status: answer.status, headers: relayed, body: Buffer.from(await answer.arrayBuffer()) };
}

/** The template's AWS::DynamoDB::Table properties the box needs to make the table in DynamoDB Local. */
export interface TemplateTableProperties {
  KeySchema: { AttributeName: string; KeyType: string }[];
  AttributeDefinitions: { AttributeName: string; AttributeType: string }[];
  GlobalSecondaryIndexes?: { IndexName: string; KeySchema: unknown[]; Projection: unknown }[];
  LocalSecondaryIndexes?: { IndexName: string; KeySchema: unknown[]; Projection: unknown }[];
  TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
  [other: string]: unknown;
}

/** Creates in DynamoDB Local the table the template declares, under its CloudFormation-generated name. */
export async function createTableFromTemplate(
  dynamodbUrl: string,
  tableName: string,
  properties: TemplateTableProperties,
): Promise<void> {
  const client = new DynamoDBClient({
    endpoint: dynamodbUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'box', secretAccessKey: 'box' },
  });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        KeySchema: properties.KeySchema as never,
        AttributeDefinitions: properties.AttributeDefinitions as never,
        BillingMode: 'PAY_PER_REQUEST',
        ...(properties.GlobalSecondaryIndexes
          ? { GlobalSecondaryIndexes: properties.GlobalSecondaryIndexes as never }
          : {}),
        ...(properties.LocalSecondaryIndexes
          ? { LocalSecondaryIndexes: properties.LocalSecondaryIndexes as never }
          : {}),
      }),
    );
    const ttl = properties.TimeToLiveSpecification;
    if (ttl?.Enabled) {
      await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: ttl }));
    }
  } finally {
    client.destroy();
  }
}
