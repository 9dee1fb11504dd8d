import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsGateway } from './aws-gateway.ts';
import {
  ACCOUNT,
  clientConfig,
  OTHER_TABLE,
  OTHER_TABLE_ARN,
  ROLES,
  TABLE,
  TABLE_ARN,
  testGateway,
} from './gateway-fixture.ts';
import type { IamAuthority } from './iam.ts';
import { createTableFromTemplate, dynamodbAuthorizations } from './services/dynamodb.ts';
import { signedFetch } from './sigv4.ts';

let iam: IamAuthority;
let gateway: AwsGateway;

const index = (name: string) => ({
  IndexName: name,
  KeySchema: [{ AttributeName: name, KeyType: 'HASH' }],
  Projection: { ProjectionType: 'ALL' },
});

beforeAll(async () => {
  const started = await testGateway({ partitionKeyOf: (table) => (table === TABLE ? 'pk' : undefined) });
  ({ iam, gateway } = started);
  const key = {
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    AttributeDefinitions: ['pk', 'byAgent', 'byStatus', 'secret'].map((name) => ({
      AttributeName: name,
      AttributeType: 'S',
    })),
  };
  await createTableFromTemplate(started.dynamodbUrl, TABLE, {
    ...key,
    GlobalSecondaryIndexes: [index('byAgent'), index('byStatus'), index('secret')],
    TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
  });
  await createTableFromTemplate(started.dynamodbUrl, OTHER_TABLE, {
    KeySchema: key.KeySchema,
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
  });
});

afterAll(async () => {
  await gateway.close();
});

const dynamo = (roleArn: string) => new DynamoDBClient(clientConfig(gateway, iam.credentialsFor(roleArn, 'fn')));
const item = (pk: string) => ({ pk: { S: pk }, byAgent: { S: 'triage' }, byStatus: { S: 'running' } });

describe('the gateway in front of DynamoDB Local', () => {
  it('serves the calls the role allows, relayed from DynamoDB Local', async () => {
    const client = dynamo(ROLES.stepRole.arn);
    await client.send(new PutItemCommand({ TableName: TABLE, Item: item('run-1') }));
    const got = await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'run-1' } } }));
    expect(got.Item?.byAgent?.S).toBe('triage');
    const queried = await client.send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: 'byAgent',
        KeyConditionExpression: 'byAgent = :a',
        ExpressionAttributeValues: { ':a': { S: 'triage' } },
      }),
    );
    expect(queried.Items).toHaveLength(1);
    expect(
      gateway.calls.filter((call) => call.service === 'dynamodb').map((call) => [call.action, call.allowed]),
    ).toEqual([
      ['PutItem', true],
      ['GetItem', true],
      ['Query', true],
    ]);
  });

  it('refuses a Scan the role was never granted, as AWS words it, and records the denial', async () => {
    const refused = dynamo(ROLES.stepRole.arn).send(new ScanCommand({ TableName: TABLE }));
    await expect(refused).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message:
        `User: arn:aws:sts::${ACCOUNT.accountId}:assumed-role/BoxTest-StepRole/fn is not authorized to perform: ` +
        `dynamodb:Scan on resource: ${TABLE_ARN} because no identity-based policy allows the dynamodb:Scan action`,
      $metadata: { httpStatusCode: 400 },
    });
    expect(iam.denials.at(-1)).toEqual({
      principalArn: `arn:aws:sts::${ACCOUNT.accountId}:assumed-role/BoxTest-StepRole/fn`,
      roleArn: ROLES.stepRole.arn,
      action: 'dynamodb:Scan',
      resource: TABLE_ARN,
      reason: 'because no identity-based policy allows the dynamodb:Scan action',
    });
    expect(gateway.calls.at(-1)).toMatchObject({ service: 'dynamodb', action: 'Scan', allowed: false });
  });

  it('authorizes a query on an index as table/X/index/Y: a named index is not every index, and a Deny wins', async () => {
    const query = (IndexName: string) =>
      new QueryCommand({
        TableName: TABLE,
        IndexName,
        KeyConditionExpression: `${IndexName} = :v`,
        ExpressionAttributeValues: { ':v': { S: 'x' } },
      });
    await expect(dynamo(ROLES.stepRole.arn).send(query('byStatus'))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(iam.denials.at(-1)).toMatchObject({ action: 'dynamodb:Query', resource: `${TABLE_ARN}/index/byStatus` });
    const publisher = dynamo(ROLES.publisherRole.arn);
    await expect(publisher.send(query('byStatus'))).resolves.toMatchObject({ Count: 0 });
    await expect(publisher.send(query('secret'))).rejects.toThrow(/with an explicit deny in an identity-based policy/);
    // The base table is not an index.
    await expect(
      publisher.send(
        new QueryCommand({
          TableName: TABLE,
          KeyConditionExpression: 'pk = :v',
          ExpressionAttributeValues: { ':v': { S: 'x' } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('authorizes every item of a transaction with its own action on its own table', async () => {
    const client = dynamo(ROLES.stepRole.arn);
    await client.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: TABLE, Item: item('run-2') } },
          { Put: { TableName: OTHER_TABLE, Item: { pk: { S: 'other-2' } } } },
          {
            ConditionCheck: {
              TableName: TABLE,
              Key: { pk: { S: 'run-1' } },
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
        ],
      }),
    );
    const refused = client.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: TABLE, Item: item('run-3') } },
          {
            ConditionCheck: {
              TableName: OTHER_TABLE,
              Key: { pk: { S: 'other-2' } },
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
        ],
      }),
    );
    await expect(refused).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(iam.denials.at(-1)).toMatchObject({ action: 'dynamodb:ConditionCheckItem', resource: OTHER_TABLE_ARN });
    const after = await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'run-3' } } }));
    expect(after.Item).toBeUndefined();
  });

  it('evaluates dynamodb:LeadingKeys: a grant on SKILL# items reads and writes those, and no other item', async () => {
    const publisher = dynamo(ROLES.publisherRole.arn);
    await publisher.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: 'SKILL#triage' } } }));
    const got = await publisher.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'SKILL#triage' } } }));
    expect(got.Item?.pk?.S).toBe('SKILL#triage');
    await expect(
      publisher.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: 'RUN#1' } } })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(iam.denials.at(-1)).toMatchObject({ action: 'dynamodb:PutItem', resource: TABLE_ARN });
    await expect(
      publisher.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'RUN#1' } } })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('finds the leading keys of every request shape: item, table query, batch and transaction', () => {
    const keyOf = (table: string) => (table === TABLE ? 'pk' : undefined);
    const keys = (operation: string, body: Record<string, unknown>) =>
      dynamodbAuthorizations(ACCOUNT, operation, body, keyOf).map((each) => [each.action, each.leadingKeys]);
    expect(keys('UpdateItem', { TableName: TABLE, Key: { pk: { S: 'a' } } })).toEqual([['dynamodb:UpdateItem', ['a']]]);
    expect(
      keys('Query', {
        TableName: TABLE,
        KeyConditionExpression: '#k = :k AND begins_with(sk, :p)',
        ExpressionAttributeNames: { '#k': 'pk' },
        ExpressionAttributeValues: { ':k': { S: 'RUN#1' }, ':p': { S: 'STEP#' } },
      }),
    ).toEqual([['dynamodb:Query', ['RUN#1']]]);
    // An index query pins the index's key, not the table's: no leading keys.
    expect(keys('Query', { TableName: TABLE, IndexName: 'byAgent', KeyConditionExpression: 'byAgent = :a' })).toEqual([
      ['dynamodb:Query', undefined],
    ]);
    expect(
      keys('BatchWriteItem', {
        RequestItems: {
          [TABLE]: [{ PutRequest: { Item: { pk: { S: 'b' } } } }, { DeleteRequest: { Key: { pk: { S: 'c' } } } }],
        },
      }),
    ).toEqual([['dynamodb:BatchWriteItem', ['b', 'c']]]);
    expect(
      keys('TransactWriteItems', {
        TransactItems: [
          { Put: { TableName: TABLE, Item: { pk: { S: 'd' } } } },
          { Update: { TableName: TABLE, Key: { pk: { S: 'e' } } } },
          { Put: { TableName: OTHER_TABLE, Item: { pk: { S: 'f' } } } },
        ],
      }),
    ).toEqual([
      ['dynamodb:PutItem', ['d']],
      ['dynamodb:UpdateItem', ['e']],
    ]);
  });
});

describe('default endpoint resolution', () => {
  it('reaches the gateway through AWS_ENDPOINT_URL, as a bundle configured only by its environment does', async () => {
    const saved = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = gateway.url;
    try {
      const client = new DynamoDBClient({
        region: ACCOUNT.region,
        credentials: iam.credentialsFor(ROLES.stepRole.arn),
      });
      await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'run-1' } } }));
      expect(gateway.calls.at(-1)).toMatchObject({ service: 'dynamodb', action: 'GetItem', allowed: true });
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = saved;
    }
  });
});

describe('SigV4', () => {
  it('refuses a wrong secret, an unknown key, a foreign session token and an unsigned request', async () => {
    const good = iam.credentialsFor(ROLES.stepRole.arn);
    const send = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) =>
      new DynamoDBClient(clientConfig(gateway, credentials)).send(
        new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'x' } } }),
      );
    await expect(send({ ...good, secretAccessKey: `${good.secretAccessKey}x` })).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      message: expect.stringMatching(/^The request signature we calculated does not match/),
    });
    await expect(send({ ...good, accessKeyId: 'ASIAUNKNOWNUNKNOWN00' })).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    const other = iam.credentialsFor(ROLES.publisherRole.arn);
    await expect(send({ ...good, sessionToken: other.sessionToken })).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    const unsigned = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.Scan' },
      body: JSON.stringify({ TableName: TABLE }),
    });
    expect(unsigned.status).toBe(400);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(iam.denials.slice(-4).map((denial) => denial.reason)).toEqual([
      'signature check: bad-signature',
      'signature check: unknown-key',
      'signature check: bad-token',
      'the request is not signed with SigV4',
    ]);
  });

  it('checks the signature of a request to another endpoint of the box (the HTTP API, execute-api)', async () => {
    const api = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, String(value)]));
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const verdict = await gateway.verifySignature(
        { method: req.method ?? 'GET', url, headers, body: Buffer.concat(chunks) },
        'execute-api',
      );
      res.writeHead('error' in verdict ? 403 : 200).end(JSON.stringify(verdict));
    });
    api.listen(0, '127.0.0.1');
    await once(api, 'listening');
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}/v1/runs?agent=morning%20triage`;
    try {
      const operator = iam.userCredentials('operator');
      const call = (credentials: typeof operator, service = 'execute-api') =>
        signedFetch(url, { service, region: ACCOUNT.region, credentials });
      const ok = await call(operator);
      expect(await ok.json()).toEqual({ accessKeyId: operator.accessKeyId });
      expect((await call({ ...operator, secretAccessKey: 'wrong' })).status).toBe(403);
      expect(await (await call(operator, 'lambda')).json()).toEqual({ error: 'signed for lambda, not execute-api' });
      expect((await fetch(url)).status).toBe(403);
    } finally {
      api.close();
    }
  });

  it('names an operation the box does not serve, and keeps it for the report', async () => {
    const client = dynamo(ROLES.stepRole.arn);
    const { ExecuteStatementCommand } = await import('@aws-sdk/client-dynamodb');
    await expect(
      client.send(new ExecuteStatementCommand({ Statement: `SELECT * FROM "${TABLE}"` })),
    ).rejects.toMatchObject({
      name: 'UnknownOperationException',
      message: expect.stringContaining('dynamodb ExecuteStatement'),
    });
    expect(gateway.unknownOperations.at(-1)).toMatchObject({
      service: 'dynamodb',
      target: 'DynamoDB_20120810.ExecuteStatement',
    });
  });
});

describe('Secrets Manager', () => {
  it('gives secret ARNs a random six-character suffix, so NAME-?????? matches the secret and no longer name', async () => {
    const arn = gateway.secrets.create('looprail/signing-key', 's3cr3t');
    expect(arn).toMatch(
      new RegExp(
        `^arn:aws:secretsmanager:${ACCOUNT.region}:${ACCOUNT.accountId}:secret:looprail/signing-key-[A-Za-z0-9]{6}$`,
      ),
    );
    gateway.secrets.create('looprail/signing-key-old', 'older');
    const client = new SecretsManagerClient(clientConfig(gateway, iam.credentialsFor(ROLES.stepRole.arn)));
    const byName = await client.send(new GetSecretValueCommand({ SecretId: 'looprail/signing-key' }));
    expect(byName).toMatchObject({ ARN: arn, SecretString: 's3cr3t', VersionStages: ['AWSCURRENT'] });
    await expect(client.send(new GetSecretValueCommand({ SecretId: arn }))).resolves.toMatchObject({
      Name: 'looprail/signing-key',
    });
    await expect(
      client.send(new GetSecretValueCommand({ SecretId: 'looprail/signing-key-old' })),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(iam.denials.at(-1)?.resource).toMatch(/:secret:looprail\/signing-key-old-[A-Za-z0-9]{6}$/);
  });

  it('answers ResourceNotFoundException for a secret that does not exist, to a caller allowed to read it', async () => {
    const operator = new SecretsManagerClient(clientConfig(gateway, iam.userCredentials('operator')));
    await expect(operator.send(new GetSecretValueCommand({ SecretId: 'looprail/missing' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await operator.send(new CreateSecretCommand({ Name: 'looprail/github-token', SecretString: 'ghp' }));
    const listed = await operator.send(new ListSecretsCommand({}));
    expect(listed.SecretList?.map((each) => each.Name)).toContain('looprail/github-token');
    const step = new SecretsManagerClient(clientConfig(gateway, iam.credentialsFor(ROLES.stepRole.arn)));
    await expect(step.send(new ListSecretsCommand({}))).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });
});
