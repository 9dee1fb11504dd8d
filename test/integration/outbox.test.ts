import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxMailer, parseSmtpUrl } from '../../adapters/mail/outbox.ts';
import { ConfigurationError } from '../../core/errors.ts';

/**
 * The local outbox: .eml files that parse back (read here with an independent, minimal
 * MIME reader), and the same bytes relayed to an SMTP server on 127.0.0.1 written below
 * (plain), and to smtp-server (STARTTLS and AUTH).
 */

/** Headers (unfolded, RFC 2047 words decoded) and body of one MIME entity. */
function parseEntity(raw: string): { headers: Map<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    const value = line
      .slice(colon + 1)
      .trim()
      .replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=(\s+(?==\?))?/gi, (_, b64: string) =>
        Buffer.from(b64, 'base64').toString('utf8'),
      );
    headers.set(line.slice(0, colon).toLowerCase(), value);
  }
  return { headers, body: raw.slice(split + 4) };
}

function decodeQuotedPrintable(body: string): string {
  const joined = body.replace(/=\r\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    if (joined[i] === '=') {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(joined.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8').replace(/\r\n/g, '\n');
}

function parseMultipart(raw: string) {
  const { headers, body } = parseEntity(raw);
  const boundary = /boundary="?([^";\s]+)"?/.exec(headers.get('content-type') ?? '')![1]!;
  // A preamble before the first boundary is optional.
  const parts = `\r\n${body}`
    .split(`\r\n--${boundary}`)
    .slice(1)
    .filter((part) => !part.startsWith('--'))
    .map((part) => parseEntity(part.replace(/^\r\n/, '')))
    .map((part) => ({
      type: part.headers.get('content-type'),
      encoding: part.headers.get('content-transfer-encoding'),
      content: decodeQuotedPrintable(part.body),
    }));
  return { headers, parts };
}

/** A tiny SMTP server: records the dialogue and each message's DATA exactly as received (dot-stuffing undone). */
class TestSmtpServer {
  readonly server: Server;
  readonly commands: string[] = [];
  readonly messages: Array<{ from: string; to: string[]; wire: string; data: string }> = [];
  rejectRecipients = false;

  constructor() {
    this.server = createServer((socket) => {
      socket.setEncoding('utf8');
      let buffer = '';
      let inData = false;
      let envelope = { from: '', to: [] as string[] };
      socket.write('220 test.local ESMTP ready\r\n');
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        for (;;) {
          if (inData) {
            const end = buffer.indexOf('\r\n.\r\n');
            if (end < 0) return;
            const wire = buffer.slice(0, end + 2);
            buffer = buffer.slice(end + 5);
            inData = false;
            this.messages.push({ ...envelope, wire, data: wire.replace(/(^|\r\n)\.\./g, '$1.') });
            socket.write('250 2.0.0 queued\r\n');
            continue;
          }
          const newline = buffer.indexOf('\r\n');
          if (newline < 0) return;
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 2);
          this.commands.push(line.replace(/ .*/, ''));
          if (line.startsWith('EHLO')) socket.write('250-test.local\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n');
          else if (line.startsWith('MAIL FROM:')) {
            envelope = { from: line.slice(10), to: [] };
            socket.write('250 2.1.0 ok\r\n');
          } else if (line.startsWith('RCPT TO:')) {
            if (this.rejectRecipients) socket.write('550 5.1.1 no such user\r\n');
            else {
              envelope.to.push(line.slice(8));
              socket.write('250 2.1.5 ok\r\n');
            }
          } else if (line === 'DATA') {
            inData = true;
            socket.write('354 go ahead\r\n');
          } else if (line === 'QUIT') socket.end('221 2.0.0 bye\r\n');
          else socket.write('502 5.5.2 not implemented\r\n');
        }
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `smtp://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

let dir: string;
const smtp = new TestSmtpServer();
let smtpUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'looprail-outbox-'));
  smtpUrl = await smtp.listen();
});

afterAll(async () => {
  await new Promise((resolve) => smtp.server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const now = () => new Date('2026-11-24T06:00:00.000Z');

describe('the outbox mailer', () => {
  it('writes an .eml that parses back: headers, a text and an HTML part, non-ASCII intact', async () => {
    const lines: string[] = [];
    const outbox = new OutboxMailer({
      dir: join(dir, 'plain'),
      from: 'looprail@localhost',
      log: (line) => lines.push(line),
      now,
    });
    const subject =
      '[looprail] nightly finished: verified — résumé ✓ with a subject long enough to need more than one encoded word';
    const text = `Done.\n.\nA line with trailing spaces   \n${'long '.repeat(40)}\nnaïve = ok`;
    const html = '<p>Done &amp; dusted: <b>ünïcode</b></p>';
    const { messageId } = await outbox.send({ to: ['lead@example.com', 'ops@example.com'], subject, text, html });

    const files = await readdir(join(dir, 'plain'));
    expect(files).toEqual([expect.stringMatching(/^2026-11-24T06-00-00-000Z-[0-9a-f]{8}\.eml$/)]);
    const raw = await readFile(join(dir, 'plain', files[0]!), 'utf8');
    // Every line ends in CRLF and none is longer than RFC 5322's 78 characters.
    expect(raw.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(Math.max(...raw.split('\r\n').map((line) => line.length))).toBeLessThanOrEqual(78);

    const { headers, parts } = parseMultipart(raw);
    expect(headers.get('from')).toBe('looprail@localhost');
    expect(headers.get('to')).toBe('lead@example.com, ops@example.com');
    expect(headers.get('subject')).toBe(subject);
    expect(raw).toMatch(/^Subject: =\?UTF-8\?B\?/m);
    expect(headers.get('date')).toBe('Tue, 24 Nov 2026 06:00:00 +0000');
    expect(headers.get('message-id')).toBe(messageId);
    expect(messageId).toMatch(/^<[0-9a-f-]{36}@localhost>$/);
    expect(headers.get('mime-version')).toBe('1.0');
    expect(headers.get('content-type')).toMatch(/^multipart\/alternative; boundary="?looprail-/);
    expect(parts).toEqual([
      { type: 'text/plain; charset=utf-8', encoding: 'quoted-printable', content: text },
      { type: 'text/html; charset=utf-8', encoding: 'quoted-printable', content: html },
    ]);
    expect(lines).toEqual([
      `mail to lead@example.com, ops@example.com: "${subject}" → ${join(dir, 'plain', files[0]!)}`,
    ]);
  });

  it('writes a text-only message as a single text/plain entity', async () => {
    const outbox = new OutboxMailer({ dir: join(dir, 'text-only'), from: 'looprail@localhost', now });
    await outbox.send({ to: ['lead@example.com'], subject: 'Plain', text: 'Just text.' });
    const [file] = await readdir(join(dir, 'text-only'));
    const { headers, body } = parseEntity(await readFile(join(dir, 'text-only', file!), 'utf8'));
    expect(headers.get('subject')).toBe('Plain');
    expect(headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(decodeQuotedPrintable(body)).toBe('Just text.\n');
  });

  it('refuses addresses that could inject headers or SMTP commands, and flattens a multi-line subject', async () => {
    const outbox = new OutboxMailer({ dir: join(dir, 'refused'), from: 'looprail@localhost', now });
    await expect(
      outbox.send({ to: ['lead@example.com\r\nBcc: all@example.com'], subject: 's', text: 't' }),
    ).rejects.toThrow('a recipient is not a plain email address');
    await expect(outbox.send({ to: [], subject: 's', text: 't' })).rejects.toThrow('at least one recipient');
    await outbox.send({ to: ['lead@example.com'], subject: 'one\r\nBcc: all@example.com', text: 't' });
    const [file] = await readdir(join(dir, 'refused'));
    const raw = await readFile(join(dir, 'refused', file!), 'utf8');
    expect(raw).not.toMatch(/^Bcc:/m);
    expect(raw).toContain('Subject: one Bcc: all@example.com\r\n');
  });

  it('relays the exact bytes over SMTP, dot-stuffing lines that begin with a dot', async () => {
    const lines: string[] = [];
    const outbox = new OutboxMailer({
      dir: join(dir, 'smtp'),
      from: 'looprail@localhost',
      smtpUrl,
      log: (line) => lines.push(line),
      now,
    });
    const text = '.\n..two dots\n.leading dot\nmiddle . dot\n.';
    await outbox.send({ to: ['lead@example.com', 'ops@example.com'], subject: 'Dots', text, html: '<p>.</p>' });

    const [file] = await readdir(join(dir, 'smtp'));
    const eml = await readFile(join(dir, 'smtp', file!), 'utf8');
    expect(smtp.messages).toHaveLength(1);
    const received = smtp.messages[0]!;
    expect(received.from).toBe('<looprail@localhost>');
    expect(received.to).toEqual(['<lead@example.com>', '<ops@example.com>']);
    expect(received.data).toBe(eml);
    // On the wire, every line that began with a dot carried one more.
    expect(received.wire).toContain('\r\n..\r\n...two dots\r\n..leading dot\r\nmiddle . dot\r\n..\r\n');
    expect(parseMultipart(received.data).parts[0]!.content).toBe(text);
    // nodemailer closes the connection once the message is accepted, without a QUIT.
    expect(smtp.commands).toEqual(['EHLO', 'MAIL', 'RCPT', 'RCPT', 'DATA']);
    expect(lines[1]).toBe(`mail to lead@example.com, ops@example.com: "Dots" relayed to ${smtpUrl}`);
  });

  it("fails with the server's answer when it refuses, and keeps the .eml", async () => {
    smtp.rejectRecipients = true;
    try {
      const outbox = new OutboxMailer({ dir: join(dir, 'smtp-refused'), from: 'looprail@localhost', smtpUrl, now });
      await expect(outbox.send({ to: ['nobody@example.com'], subject: 'No', text: 'x' })).rejects.toThrow(
        /refused the recipient nobody@example.com: 550 5.1.1 no such user/,
      );
      expect(await readdir(join(dir, 'smtp-refused'))).toHaveLength(1);
    } finally {
      smtp.rejectRecipients = false;
    }
  });

  it('fails clearly when no SMTP server listens, and when one never answers', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = new OutboxMailer({
      dir: join(dir, 'down'),
      from: 'looprail@localhost',
      smtpUrl: `smtp://127.0.0.1:${port}`,
      now,
    });
    await expect(unreachable.send({ to: ['lead@example.com'], subject: 's', text: 't' })).rejects.toThrow(
      `could not talk to the SMTP server at 127.0.0.1:${port}`,
    );

    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const mute = new OutboxMailer({
        dir: join(dir, 'mute'),
        from: 'looprail@localhost',
        smtpUrl: `smtp://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        smtpTimeoutMs: 200,
        now,
      });
      await expect(mute.send({ to: ['lead@example.com'], subject: 's', text: 't' })).rejects.toThrow(
        'did not answer within 200 ms',
      );
    } finally {
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('reads smtp:// and smtps:// URLs; credentials over smtp:// require STARTTLS', () => {
    expect(parseSmtpUrl('smtp://127.0.0.1:2525')).toEqual({
      host: '127.0.0.1',
      port: 2525,
      secure: false,
      requireTLS: false,
    });
    expect(parseSmtpUrl('smtp://mail.local')).toEqual({
      host: 'mail.local',
      port: 25,
      secure: false,
      requireTLS: false,
    });
    expect(parseSmtpUrl('smtp://mail.local?requireTLS=true')).toMatchObject({ port: 25, requireTLS: true });
    expect(parseSmtpUrl('smtps://mail.local')).toEqual({
      host: 'mail.local',
      port: 465,
      secure: true,
      requireTLS: false,
    });
    expect(parseSmtpUrl('smtp://me%40example.com:p%3Aw@mail.local:587')).toEqual({
      host: 'mail.local',
      port: 587,
      secure: false,
      requireTLS: true,
      auth: { user: 'me@example.com', pass: 'p:w' },
    });
    expect(() => parseSmtpUrl('http://mail.local')).toThrow(ConfigurationError);
    expect(() => parseSmtpUrl('smtp://mail.local?tls.rejectUnauthorized=false')).toThrow(
      /unknown settings: tls.rejectUnauthorized/,
    );
    expect(() => parseSmtpUrl('not a url')).toThrow(/expected smtp:\/\/host:port/);
  });
});

/** STARTTLS and AUTH, which the relay gets from nodemailer, against smtp-server's own test certificate. */
describe('the outbox relay with STARTTLS and AUTH', () => {
  const sessions: Array<{ secure: boolean; user: unknown; data: string }> = [];
  let server: SMTPServer;
  let port: number;

  beforeAll(async () => {
    server = new SMTPServer({
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: false,
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'me@example.com' && auth.password === 'p:w')
          return callback(null, { user: auth.username });
        return callback(new Error('bad credentials'));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          sessions.push({ secure: session.secure, user: session.user, data: Buffer.concat(chunks).toString('utf8') });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('upgrades with STARTTLS, logs in, and relays the .eml', async () => {
    const outbox = new OutboxMailer({
      dir: join(dir, 'tls'),
      from: 'looprail@localhost',
      smtpUrl: `smtp://me%40example.com:p%3Aw@127.0.0.1:${port}`,
      smtpTls: { rejectUnauthorized: false },
      now,
    });
    await outbox.send({ to: ['lead@example.com'], subject: 'Over TLS', text: 'secret' });
    const [file] = await readdir(join(dir, 'tls'));
    expect(sessions).toEqual([
      { secure: true, user: 'me@example.com', data: await readFile(join(dir, 'tls', file!), 'utf8') },
    ]);
  });

  it('refuses to send credentials when the server offers no STARTTLS, and keeps the .eml', async () => {
    // This server never offers STARTTLS.
    const plain = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      logger: false,
      onData: (stream, _session, callback) => stream.on('end', callback).resume(),
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const plainPort = (plain.server.address() as AddressInfo).port;
      const outbox = new OutboxMailer({
        dir: join(dir, 'no-tls'),
        from: 'looprail@localhost',
        smtpUrl: `smtp://me%40example.com:p%3Aw@127.0.0.1:${plainPort}`,
        now,
      });
      await expect(outbox.send({ to: ['lead@example.com'], subject: 's', text: 't' })).rejects.toThrow(
        `SMTP server at 127.0.0.1:${plainPort}`,
      );
      expect(await readdir(join(dir, 'no-tls'))).toHaveLength(1);
    } finally {
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });
});
