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
 * DeleteItem/ConditionCheckItem on that item's table; an IndexName as `table/X/index/Y`), then
 * forwarded to DynamoDB Local and its answer relayed byte for byte (x-amz-crc32 included).
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
}

/** The IAM actions and resources a DynamoDB request needs, as DynamoDB authorizes them. */
export function dynamodbAuthorizations(
  account: BoxAccount,
  operation: string,
  body: Record<string, any>,
): DynamoAuthorization[] {
  const table = (name: string) => (name.startsWith('arn:') ? name : arn(account, 'dynamodb', `table/${name}`));
  if (TABLE_OPERATIONS.has(operation)) {
    const base = table(String(body.TableName ?? body.ResourceArn ?? ''));
    const resource = body.IndexName ? `${base}/index/${body.IndexName}` : base;
    return [{ action: `dynamodb:${operation}`, resources: [resource] }];
  }
  if (operation === 'ListTables') return [{ action: 'dynamodb:ListTables', resources: ['*'] }];
  if (operation === 'BatchGetItem' || operation === 'BatchWriteItem') {
    return [{ action: `dynamodb:${operation}`, resources: Object.keys(body.RequestItems ?? {}).map(table) }];
  }
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const byAction = new Map<string, Set<string>>();
    for (const item of (body.TransactItems ?? []) as Record<string, { TableName: string }>[]) {
      const [kind, detail] = Object.entries(item)[0] ?? [];
      const action = operation === 'TransactGetItems' ? 'dynamodb:GetItem' : TRANSACT_WRITE_ACTIONS[kind ?? ''];
      if (!action || !detail) throw new ServiceError('ValidationException', `unknown transaction item ${kind}`);
      byAction.set(action, (byAction.get(action) ?? new Set()).add(table(detail.TableName)));
    }
    return [...byAction].map(([action, resources]) => ({ action, resources: [...resources] }));
  }
  throw new ServiceError('UnknownOperationException', `the box does not serve dynamodb ${operation}`);
}

export function dynamodbService(dynamodbUrl: string | undefined): BoxService {
  return {
    name: 'dynamodb',
    signingName: 'dynamodb',
    protocol: 'awsJson1_0',
    operation: (request) => targetOperation(request, PREFIX),
    async handle(operation: string, call: CallContext): Promise<ServiceResponse> {
      if (!dynamodbUrl) throw new ServiceError('UnknownOperationException', 'the box has no DynamoDB Local');
      for (const each of dynamodbAuthorizations(call.account, operation, jsonBody(call.request))) {
        await call.authorize(each.action, each.resources);
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
