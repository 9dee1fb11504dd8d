import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { sigv4Fetch } from '../../cli/sigv4.ts';
import { OPERATOR, type StackInABox } from './box.ts';

/** What a box test reads and calls with: the deployed table straight from DynamoDB Local, and the API as a box user. */

export function boxRunStore(box: StackInABox, dynamodbUrl: string): DynamoRunStore {
  const [table] = box.template.ofType('AWS::DynamoDB::Table');
  const client = new DynamoDBClient({
    endpoint: dynamodbUrl,
    region: box.template.account.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return new DynamoRunStore({ client, tableName: box.template.physicalName(table!) });
}

/** `fetch` signed with SigV4 for execute-api as one of the box's users (OPERATOR by default). */
export function signedFetch(box: StackInABox, user = OPERATOR): typeof fetch {
  const credentials = box.userCredentials(user);
  return sigv4Fetch(box.template.account.region, async () => credentials);
}
