import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SesMailer } from '../../adapters/mail/ses.ts';
import { ConfigurationError } from '../../core/errors.ts';

/**
 * The SES mailer against a local server on 127.0.0.1 that speaks SES v2's SendEmail wire
 * format (SES has no local emulator): the request is SigV4-signed for `ses`, carries the
 * sender, recipients, subject, text and HTML; a refused (unverified) sender is a clear
 * configuration error, and a missing one fails before anything is sent.
 */

const requests: Array<{ path: string; authorization: string; body: Record<string, unknown> }> = [];
let server: Server;
let endpoint: string;
const credentials = async () => ({
  accessKeyId: ['AKIA', 'IOSFODNN7EXAMPLE'].join(''),
  secretAccessKey: ['wJalrXUtnFEMI', 'K7MDENG', 'bPxRfiCYEXAMPLEKEY'].join('/'),
});

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      requests.push({ path: req.url ?? '', authorization: req.headers.authorization ?? '', body });
      if (body.FromEmailAddress === 'unverified@example.com') {
        res.writeHead(400, {
          'content-type': 'application/json',
          'x-amzn-errortype': 'MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/',
        });
        return res.end(
          JSON.stringify({
            message:
              'Email address is not verified. The following identities failed the check in region US-EAST-1: unverified@example.com',
          }),
        );
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ MessageId: 'ses-message-1' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const message = {
  to: ['lead@example.com'],
  subject: '[looprail] approve github.merge_pr for nightly?',
  text: 'plain',
  html: '<p>html</p>',
};

describe('the SES mailer', () => {
  it('sends a signed SendEmail with the sender, recipients, subject, text and HTML', async () => {
    const mailer = new SesMailer({ from: 'looprail@example.com', region: 'us-east-1', endpoint, credentials });
    expect(await mailer.send(message)).toEqual({ messageId: 'ses-message-1' });
    const request = requests.at(-1)!;
    expect(request.path).toBe('/v2/email/outbound-emails');
    expect(request.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIA\w+\/\d{8}\/us-east-1\/ses\/aws4_request, SignedHeaders=\S*host\S*, Signature=[0-9a-f]{64}$/,
    );
    expect(request.body).toEqual({
      FromEmailAddress: 'looprail@example.com',
      Destination: { ToAddresses: ['lead@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: message.subject, Charset: 'UTF-8' },
          Body: { Text: { Data: 'plain', Charset: 'UTF-8' }, Html: { Data: '<p>html</p>', Charset: 'UTF-8' } },
        },
      },
    });
  });

  it('says clearly when SES refuses an unverified sender', async () => {
    const mailer = new SesMailer({ from: 'unverified@example.com', region: 'us-east-1', endpoint, credentials });
    const failure = mailer.send(message);
    await expect(failure).rejects.toBeInstanceOf(ConfigurationError);
    await expect(failure).rejects.toThrow(
      /SES refused to send from unverified@example\.com: Email address is not verified.*verify the sender's identity/,
    );
  });

  it('refuses to start without a sender, or with one that is not an address, sending nothing', () => {
    const before = requests.length;
    expect(() => new SesMailer({ from: undefined, region: 'us-east-1', endpoint, credentials })).toThrow(
      /CDK context `approvalSender`/,
    );
    expect(() => new SesMailer({ from: 'Looprail <a@b.c>', region: 'us-east-1', endpoint, credentials })).toThrow(
      /not a plain email address/,
    );
    expect(requests.length).toBe(before);
  });
});
