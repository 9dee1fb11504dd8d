import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { APPROVAL_EXPIRED } from '../../core/errors.ts';
import { approval, context, runMeta, stepCommit } from '../support/run-store-fixtures.ts';
import { testTable, type TestTable } from '../support/dynamodb.ts';

/**
 * The mailing steps' Lambda entries (functions/run/fail-run.ts, finish-run.ts) as deployed:
 * their environment is the one infra/constructs/approvals.ts gives them (the public URL and the
 * SES sender), their clients are the SDK's defaults pointed at DynamoDB Local and a 127.0.0.1
 * SES v2 stand-in. A run whose approval expired is closed and its approvers get the "approval
 * expired" mail; a finished run's `notify:` address gets its notification: each through the
 * mailer the step built from that environment.
 */

const sent: Array<{ authorization: string; body: Record<string, any> }> = [];
let server: Server;
let table: TestTable;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url !== '/v2/email/outbound-emails') return res.writeHead(404).end();
      sent.push({ authorization: req.headers.authorization ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ MessageId: 'ses-1' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  table = await testTable();
  Object.assign(process.env, {
    LOOPRAIL_TABLE_NAME: table.tableName,
    LOOPRAIL_LOG_LEVEL: 'silent',
    LOOPRAIL_PUBLIC_URL: 'https://api.example.com/',
    LOOPRAIL_MAIL_FROM: 'looprail@example.com',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: inject('dynamodbEndpoint'),
    AWS_ENDPOINT_URL_SESV2: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  sent.length = 0;
});

describe('mail from the steps on AWS', () => {
  it('closes a run whose approval expired and mails its approvers through the SES mailer from its environment', async () => {
    const meta = runMeta({ status: 'paused', pendingApprovalId: 'appr-expired-1' });
    await table.store.createRun(meta);
    await table.store.putApproval(
      approval('appr-expired-1', meta.runId, { approvers: ['lead@example.com', 'second@example.com'] }),
    );
    const { handler } = await import('../../functions/run/fail-run.ts');

    const output = await handler({ runId: meta.runId, error: { Error: APPROVAL_EXPIRED, Cause: 'States.Timeout' } });

    expect(output).toMatchObject({ runId: meta.runId, failed: false, stopReason: 'approval_expired' });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.authorization).toMatch(/\/eu-west-1\/ses\/aws4_request/);
    expect(sent[0]!.body).toMatchObject({
      FromEmailAddress: 'looprail@example.com',
      Destination: { ToAddresses: ['lead@example.com', 'second@example.com'] },
    });
    const text = sent[0]!.body.Content.Simple.Body.Text.Data as string;
    expect(sent[0]!.body.Content.Simple.Subject.Data).toMatch(/expired/i);
    expect(text).toContain(`Trace: https://api.example.com/v1/runs/${meta.runId}/trace`);
    expect((await table.store.getApproval('appr-expired-1'))?.status).toBe('expired');
  });

  it("sends a finished run's notify: mail through the SES mailer from FinishRun's environment", async () => {
    const queued = runMeta({ trigger: { kind: 'schedule' } });
    await table.store.createRun(queued);
    const view = { ...context.view, agent: queued.agent, notify: [{ email: 'lead@example.com', on: ['finished'] }] };
    const commit = stepCommit(queued, { context: { ...context, view } as typeof context });
    commit.meta = { ...commit.meta, pendingStop: { reason: 'completed' } };
    expect(await table.store.commit(queued.runId, commit)).toBe('committed');
    const { handler } = await import('../../functions/run/finish-run.ts');

    await handler({ runId: queued.runId, seq: commit.meta.seq });

    expect((await table.store.getRun(queued.runId))?.stopReason).toBe('completed');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toMatchObject({
      FromEmailAddress: 'looprail@example.com',
      Destination: { ToAddresses: ['lead@example.com'] },
    });
  });
});
