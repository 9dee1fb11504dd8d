import { createRequire } from 'node:module';

/**
 * What a Lambda bundle gets for `@aws-sdk/lib-dynamodb`: the runtime's package loaded with
 * `require()`, for the reasons client-dynamodb.ts beside it gives.
 */
const sdk: typeof import('@aws-sdk/lib-dynamodb') = createRequire(import.meta.url)('@aws-sdk/lib-dynamodb');

export const {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} = sdk;
