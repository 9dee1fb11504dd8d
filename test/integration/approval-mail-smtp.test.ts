import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxMailer } from '../../adapters/mail/outbox.ts';
import { approvalEmail } from '../../core/approvals/email.ts';
import { approvalLink } from '../../core/approvals/links.ts';
import { decodeQuotedPrintable } from '../support/approvals.ts';

/**
 * The approval mail through the local outbox and a real SMTP server (the smtp-server
 * package, on 127.0.0.1): the .eml is written, the same bytes are relayed, and the link
 * the approver receives is the signed one.
 */

const received: Array<{ from: string; to: string[]; data: string }> = [];
let server: SMTPServer;
let port: number;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'looprail-smtp-'));
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((each) => each.address),
          data: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('approval mail over SMTP', () => {
  it("writes the .eml and relays it to the SMTP server, with the recipient's own signed link", async () => {
    const key = ['smtp-test', 'signing-key-0123456789'].join('-');
    const link = approvalLink('http://127.0.0.1:8787', key, {
      approvalId: 'r-smtp-a2',
      recipient: 'lead@example.com',
      expires: 2_000_000_000,
    });
    const mailer = new OutboxMailer({ dir, from: 'looprail@localhost', smtpUrl: `smtp://127.0.0.1:${port}` });
    const message = approvalEmail(
      {
        agent: 'nightly',
        runId: 'r-smtp',
        approvalId: 'r-smtp-a2',
        calls: [{ tool: 'github.merge_pr', arguments: { pr: 7 } }],
        reasons: ['github.merge_pr is flagged destructive in its server declaration'],
        costMicros: 1_500,
        expiresAt: '2033-05-18T03:33:20.000Z',
        traceUrl: 'http://127.0.0.1:8787/v1/runs/r-smtp/trace',
      },
      'lead@example.com',
      link,
    );
    await mailer.send(message);
    expect((await readdir(dir)).filter((name) => name.endsWith('.eml'))).toHaveLength(1);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ from: 'looprail@localhost', to: ['lead@example.com'] });
    expect(received[0]!.data).toContain('Subject: [looprail] approve github.merge_pr for nightly?');
    expect(decodeQuotedPrintable(received[0]!.data)).toContain(link);
  });
});
