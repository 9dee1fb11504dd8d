import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetAccountCommand, SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import {
  DescribeExecutionCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/nested-clients/sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsGateway } from './aws-gateway.ts';
import { ACCOUNT, clientConfig, FUNCTION, ROLES, role, STATE_MACHINE, testGateway } from './gateway-fixture.ts';
import type { IamAuthority } from './iam.ts';
import type { EventBridgeEvent } from './services/events.ts';
import type { InvocationType } from './services/lambda.ts';
import { createS3Store } from './services/s3.ts';
import type { ExecutionDescription, SfnBackend } from './services/states.ts';
import { signedFetch } from './sigv4.ts';

let iam: IamAuthority;
let gateway: AwsGateway;
const routed: EventBridgeEvent[] = [];
const invoked: { name: string; payload: string; type: InvocationType }[] = [];
const executions = new Map<string, ExecutionDescription>();
const tokens = new Map<string, string>([['token-1', STATE_MACHINE]]);
const sent: { token: string; output: string }[] = [];

/** The Step Functions host, reduced to what the gateway asks of it. */
const sfn: SfnBackend = {
  startExecution({ stateMachineArn, name = 'auto', input }) {
    const arn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    if (executions.has(arn))
      throw Object.assign(new Error(`Execution Already Exists: '${arn}'`), { name: 'ExecutionAlreadyExists' });
    executions.set(arn, { arn, name, status: 'RUNNING', startDate: new Date(), ...(input ? { input } : {}) });
    return { executionArn: arn, startDate: new Date() };
  },
  describeExecution: (arn) => executions.get(arn)!,
  stopExecution: () => ({ stopDate: new Date() }),
  listExecutions: () => [...executions.values()],
  sendTaskSuccess: (token, output) => void sent.push({ token, output }),
  sendTaskFailure: () => undefined,
  sendTaskHeartbeat: () => undefined,
  stateMachineOfTaskToken: (token) => tokens.get(token),
};

beforeAll(async () => {
  ({ iam, gateway } = await testGateway({
    ses: { identities: ['example.com', 'ops@example.org'] },
    onEvent: (event) => void routed.push(event),
    sfn,
    lambda: {
      async invoke(name, payload, type) {
        invoked.push({ name, payload, type });
        const event = JSON.parse(payload);
        if (event.fail)
          return { payload: JSON.stringify({ errorType: 'Boom', errorMessage: 'no' }), functionError: 'Unhandled' };
        return { payload: JSON.stringify({ echoed: event }) };
      },
    },
    s3: createS3Store(['box-archives']),
    schedules: [
      {
        name: 'morning-triage',
        groupName: 'boxtest',
        state: 'ENABLED',
        scheduleExpression: 'cron(0 7 * * ? *)',
        target: { arn: FUNCTION, roleArn: role('BoxTest-SchedulerRole') },
      },
    ],
  }));
});

afterAll(async () => {
  await gateway.close();
});

const as = (roleArn = ROLES.stepRole.arn) => clientConfig(gateway, iam.credentialsFor(roleArn, 'fn'));

describe('SESv2', () => {
  it('sends from a verified domain and keeps the mail; refuses an identity the role may not send as', async () => {
    const ses = new SESv2Client(as());
    const mail = (from: string) =>
      new SendEmailCommand({
        FromEmailAddress: from,
        Destination: { ToAddresses: ['approver@example.net'] },
        Content: {
          Simple: { Subject: { Data: 'Approve?' }, Body: { Text: { Data: 'link' }, Html: { Data: '<a>link</a>' } } },
        },
      });
    const answer = await ses.send(mail('looprail@example.com'));
    expect(gateway.sentMails.at(-1)).toMatchObject({
      messageId: answer.MessageId,
      from: 'looprail@example.com',
      to: ['approver@example.net'],
      subject: 'Approve?',
      text: 'link',
      html: '<a>link</a>',
    });
    await expect(ses.send(mail('ops@example.org'))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(iam.denials.at(-1)).toMatchObject({
      action: 'ses:SendEmail',
      resource: `arn:aws:ses:${ACCOUNT.region}:${ACCOUNT.accountId}:identity/ops@example.org`,
    });
    const operator = new SESv2Client(clientConfig(gateway, iam.userCredentials('operator')));
    await expect(operator.send(new GetAccountCommand({}))).resolves.toMatchObject({ ProductionAccessEnabled: true });
  });
});

describe('EventBridge', () => {
  it('routes an entry from the allowed source; refuses another source, and the StringEquals form on a multivalued key', async () => {
    const put = (roleArn: string, source: string) =>
      new EventBridgeClient(as(roleArn)).send(
        new PutEventsCommand({ Entries: [{ Source: source, DetailType: 'RunStarted', Detail: '{"runId":"r1"}' }] }),
      );
    await expect(put(ROLES.stepRole.arn, 'looprail')).resolves.toMatchObject({ FailedEntryCount: 0 });
    expect(routed.at(-1)).toMatchObject({ source: 'looprail', 'detail-type': 'RunStarted', detail: { runId: 'r1' } });
    expect(gateway.events.at(-1)).toMatchObject({ eventBusName: 'default', event: routed.at(-1) });
    await expect(put(ROLES.stepRole.arn, 'intruder')).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(iam.denials.at(-1)).toMatchObject({
      action: 'events:PutEvents',
      resource: expect.stringMatching(/event-bus\/default$/),
    });
    // events:source is multivalued (the service reference's ArrayOfString): StringEquals without a set operator never matches.
    await expect(put(ROLES.publisherRole.arn, 'looprail')).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(routed).toHaveLength(1);
  });
});

describe('Step Functions', () => {
  it('starts and describes on the machine and its executions, sends task results on the token machine', async () => {
    const client = new SFNClient(as());
    const started = await client.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'run-1', input: '{}' }),
    );
    const described = await client.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    expect(described).toMatchObject({ status: 'RUNNING', stateMachineArn: STATE_MACHINE, name: 'run-1' });
    await expect(
      client.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'run-1' })),
    ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    await expect(client.send(new StopExecutionCommand({ executionArn: started.executionArn }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    await client.send(new SendTaskSuccessCommand({ taskToken: 'token-1', output: '{"approved":true}' }));
    expect(sent).toEqual([{ token: 'token-1', output: '{"approved":true}' }]);
    await expect(client.send(new SendTaskSuccessCommand({ taskToken: 'gone', output: '{}' }))).rejects.toMatchObject({
      name: 'TaskDoesNotExist',
    });
    const publisher = new SFNClient(as(ROLES.publisherRole.arn));
    await expect(
      publisher.send(new SendTaskSuccessCommand({ taskToken: 'token-1', output: '{}' })),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(iam.denials.at(-1)).toMatchObject({ action: 'states:SendTaskSuccess', resource: STATE_MACHINE });
  });
});

describe('Lambda', () => {
  it('invokes the allowed function as Lambda answers: payload, Unhandled errors, 202 for Event', async () => {
    const client = new LambdaClient(as());
    const payload = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const ok = await client.send(new InvokeCommand({ FunctionName: FUNCTION, Payload: payload({ a: 1 }) }));
    expect(JSON.parse(new TextDecoder().decode(ok.Payload))).toEqual({ echoed: { a: 1 } });
    const failed = await client.send(
      new InvokeCommand({ FunctionName: 'BoxTest-Broker', Payload: payload({ fail: true }) }),
    );
    expect(failed).toMatchObject({ StatusCode: 200, FunctionError: 'Unhandled' });
    const queued = await client.send(
      new InvokeCommand({ FunctionName: 'BoxTest-Broker', InvocationType: 'Event', Payload: payload({}) }),
    );
    expect(queued.StatusCode).toBe(202);
    expect(invoked.map((each) => [each.name, each.type])).toEqual([
      ['BoxTest-Broker', 'RequestResponse'],
      ['BoxTest-Broker', 'RequestResponse'],
      ['BoxTest-Broker', 'Event'],
    ]);
    await expect(
      client.send(new InvokeCommand({ FunctionName: 'BoxTest-Broker', Qualifier: 'live' })),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 403 },
    });
    expect(iam.denials.at(-1)).toMatchObject({ action: 'lambda:InvokeFunction', resource: `${FUNCTION}:live` });
  });

  it('lets Scheduler invoke the function only from the schedule group its permission names', async () => {
    const from = (group: string) =>
      iam.authorizeService({
        servicePrincipal: 'scheduler.amazonaws.com',
        action: 'lambda:InvokeFunction',
        resource: FUNCTION,
        sourceArn: `arn:aws:scheduler:${ACCOUNT.region}:${ACCOUNT.accountId}:schedule/${group}/morning`,
      });
    expect(await from('boxtest')).toMatchObject({ allowed: true });
    expect(await from('other')).toMatchObject({ allowed: false });
    expect(
      await iam.authorizeService({
        servicePrincipal: 'events.amazonaws.com',
        action: 'lambda:InvokeFunction',
        resource: FUNCTION,
      }),
    ).toMatchObject({ allowed: false });
    // A role's trust policy says which service may assume it.
    const assume = (servicePrincipal: string) =>
      iam.authorizeService({ servicePrincipal, action: 'sts:AssumeRole', resource: ROLES.stepRole.arn });
    expect(await assume('lambda.amazonaws.com')).toMatchObject({ allowed: true });
    expect(await assume('scheduler.amazonaws.com')).toMatchObject({ allowed: false });
  });
});

describe('STS', () => {
  it('assumes a role whose trust policy names the caller, and refuses what the trust or identity policy does not allow', async () => {
    const sts = new STSClient(as());
    const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: ROLES.agentRole.arn, RoleSessionName: 'run-1' }));
    expect(assumed.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${ACCOUNT.accountId}:assumed-role/BoxTest-AgentRole/run-1`);
    expect(assumed.Credentials?.AccessKeyId).toMatch(/^ASIA/);
    expect(iam.assumptions.at(-1)).toEqual({
      callerArn: `arn:aws:sts::${ACCOUNT.accountId}:assumed-role/BoxTest-StepRole/fn`,
      roleArn: ROLES.agentRole.arn,
      sessionName: 'run-1',
    });
    // Its credentials carry the assumed role's policies, not the caller's.
    const identity = await signedFetch(gateway.url, {
      method: 'POST',
      service: 'sts',
      region: ACCOUNT.region,
      credentials: {
        accessKeyId: assumed.Credentials!.AccessKeyId!,
        secretAccessKey: assumed.Credentials!.SecretAccessKey!,
        sessionToken: assumed.Credentials!.SessionToken!,
      },
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    expect(await identity.text()).toContain(
      '<Arn>arn:aws:sts::111122223333:assumed-role/BoxTest-AgentRole/run-1</Arn>',
    );
    // Trusts the account, and the step role's identity policy allows it.
    await expect(
      sts.send(new AssumeRoleCommand({ RoleArn: ROLES.accountTrustRole.arn, RoleSessionName: 'x1' })),
    ).resolves.toBeDefined();
    // The agent role trusts only the step role.
    const publisher = new STSClient(as(ROLES.publisherRole.arn));
    await expect(
      publisher.send(new AssumeRoleCommand({ RoleArn: ROLES.agentRole.arn, RoleSessionName: 'x2' })),
    ).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    // Trusts the account, but the publisher's identity policy does not allow sts:AssumeRole.
    await expect(
      publisher.send(new AssumeRoleCommand({ RoleArn: ROLES.accountTrustRole.arn, RoleSessionName: 'x3' })),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(iam.denials.at(-1)).toMatchObject({ action: 'sts:AssumeRole', resource: ROLES.accountTrustRole.arn });
  });
});

describe('S3', () => {
  it('puts, gets and lists by object and bucket ARN, with the s3:prefix condition', async () => {
    gateway.s3.put('box-archives', 'archives/repo.tgz', 'bytes', 'application/gzip');
    // No forcePathStyle: an IP endpoint (AWS_ENDPOINT_URL in the box) makes the SDK address buckets by path.
    const s3 = new S3Client(as());
    const got = await s3.send(new GetObjectCommand({ Bucket: 'box-archives', Key: 'archives/repo.tgz' }));
    expect(await got.Body?.transformToString()).toBe('bytes');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'box-archives', Prefix: 'archives/' }));
    expect(listed.Contents?.map((each) => each.Key)).toEqual(['archives/repo.tgz']);
    await expect(s3.send(new ListObjectsV2Command({ Bucket: 'box-archives', Prefix: 'other/' }))).rejects.toMatchObject(
      {
        name: 'AccessDenied',
      },
    );
    await expect(
      s3.send(new PutObjectCommand({ Bucket: 'box-archives', Key: 'archives/x', Body: 'y' })),
    ).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    expect(iam.denials.at(-1)).toMatchObject({
      action: 's3:PutObject',
      resource: 'arn:aws:s3:::box-archives/archives/x',
    });
  });
});

describe('Scheduler', () => {
  it('answers GetSchedule and ListSchedules to a caller allowed them', async () => {
    const credentials = iam.userCredentials('operator');
    const call = (path: string, who = credentials) =>
      signedFetch(`${gateway.url}${path}`, { service: 'scheduler', region: ACCOUNT.region, credentials: who });
    const one = await call('/schedules/morning-triage?groupName=boxtest');
    expect(await one.json()).toMatchObject({ Name: 'morning-triage', State: 'ENABLED', Target: { Arn: FUNCTION } });
    const all = await call('/schedules');
    expect(((await all.json()) as { Schedules: unknown[] }).Schedules).toHaveLength(1);
    const refused = await call('/schedules', iam.credentialsFor(ROLES.stepRole.arn));
    expect(refused.status).toBe(403);
    expect(refused.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
  });
});
