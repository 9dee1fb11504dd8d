import { randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError, ValidationError } from '../../core/errors.ts';
import type { Mailer, MailMessage } from '../../core/ports/mail.ts';

/**
 * The local host's Mailer: every message is written to `<outbox dir>/*.eml` (RFC 5322,
 * MIME multipart/alternative with a text/plain and a text/html part, quoted-printable),
 * a one-line notice goes to `log`, and, when an SMTP URL is configured, the same bytes
 * are relayed over SMTP.
 *
 * The SMTP client is deliberately minimal and meant for a local relay or catcher
 * (MailHog, Mailpit, a Postfix on 127.0.0.1): plain `smtp://host:port` only, no STARTTLS
 * and no AUTH. A URL asking for TLS or credentials is refused rather than sent in clear.
 */

export interface OutboxMailerOptions {
  /** The folder the .eml files are written to (created when needed). */
  dir: string;
  /** The sender, a bare address: `looprail@localhost`. */
  from: string;
  /** `smtp://host[:port]` (port 25 by default): also relay each message there. */
  smtpUrl?: string;
  /** One line per message written (and relayed): recipients, subject and file; never the body. */
  log?: (line: string) => void;
  /** For tests: the message's Date header and file name. */
  now?: () => Date;
  /** Per SMTP reply; the connection is dropped and the send fails after it. */
  smtpTimeoutMs?: number;
}

/** A bare address without anything a header or an SMTP command could be split on. */
const ADDRESS = /^[^\s<>()",;:@\\]+@[^\s<>()",;:@\\]+$/;

function checkAddress(address: string, what: string): string {
  if (!ADDRESS.test(address)) throw new ValidationError(`${what} is not a plain email address`);
  return address;
}

export class OutboxMailer implements Mailer {
  readonly dir: string;
  readonly #from: string;
  readonly #smtp?: { host: string; port: number };
  readonly #log: (line: string) => void;
  readonly #now: () => Date;
  readonly #timeoutMs: number;

  constructor(options: OutboxMailerOptions) {
    this.dir = options.dir;
    this.#from = checkAddress(options.from, 'the sender');
    this.#smtp = options.smtpUrl ? parseSmtpUrl(options.smtpUrl) : undefined;
    this.#log = options.log ?? (() => {});
    this.#now = options.now ?? (() => new Date());
    this.#timeoutMs = options.smtpTimeoutMs ?? 10_000;
  }

  async send(message: MailMessage): Promise<{ messageId: string }> {
    if (message.to.length === 0) throw new ValidationError('a message needs at least one recipient');
    const to = message.to.map((address) => checkAddress(address, 'a recipient'));
    const date = this.#now();
    const id = randomUUID();
    const messageId = `<${id}@${this.#from.split('@')[1]}>`;
    const eml = buildEml({ from: this.#from, to, subject: message.subject, text: message.text, html: message.html, date, messageId, boundary: `looprail-${id}` });

    await mkdir(this.dir, { recursive: true });
    const name = `${date.toISOString().replace(/[:.]/g, '-')}-${id.slice(0, 8)}.eml`;
    const path = join(this.dir, name);
    // Written whole or not at all: a reader of the outbox never sees half a message.
    await writeFile(`${path}.tmp`, eml, 'utf8');
    await rename(`${path}.tmp`, path);
    const subject = oneLine(message.subject);
    this.#log(`mail to ${to.join(', ')}: "${subject}" → ${path}`);

    if (this.#smtp) {
      await sendSmtp({ ...this.#smtp, from: this.#from, to, data: eml, timeoutMs: this.#timeoutMs });
      this.#log(`mail to ${to.join(', ')}: "${subject}" relayed to smtp://${this.#smtp.host}:${this.#smtp.port}`);
    }
    return { messageId };
  }
}

export function parseSmtpUrl(value: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError('the SMTP URL is not a URL: expected smtp://host:port');
  }
  if (url.protocol !== 'smtp:') {
    throw new ConfigurationError(`the SMTP URL's scheme ${url.protocol} is not supported: expected smtp://host:port (a local relay; no TLS)`);
  }
  if (url.username || url.password) {
    throw new ConfigurationError('the SMTP URL has credentials, but this client does no AUTH (and no TLS to protect it): use a local relay without them');
  }
  if (!url.hostname) throw new ConfigurationError('the SMTP URL has no host: expected smtp://host:port');
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : 25 };
}

// ---------------------------------------------------------------------------
// RFC 5322 / MIME message

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

/** RFC 5322 date-time in UTC: `Tue, 24 Nov 2026 06:00:00 +0000`. */
export function rfc5322Date(date: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return `${days[date.getUTCDay()]}, ${two(date.getUTCDate())} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`;
}

/**
 * A Subject header value: as is when it is printable ASCII, otherwise RFC 2047 encoded
 * words (UTF-8, base64), each at most 75 characters, folded onto continuation lines.
 */
export function encodeSubject(subject: string): string {
  const clean = oneLine(subject);
  if (/^[\x20-\x7e]*$/.test(clean) && clean.length <= 900) return clean;
  const words: string[] = [];
  let chunk = '';
  // 42 bytes of UTF-8 make 56 base64 characters: `=?UTF-8?B?` + 56 + `?=` = 68, so even the first
  // line (`Subject: ` + a word) stays within 78. Never split a character.
  for (const char of clean) {
    if (Buffer.byteLength(chunk + char, 'utf8') > 42) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((word) => `=?UTF-8?B?${Buffer.from(word, 'utf8').toString('base64')}?=`).join('\r\n ');
}

/** Quoted-printable (RFC 2045 §6.7) with CRLF line breaks and lines of at most 76 characters. */
export function quotedPrintable(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  return lines
    .map((line) => {
      const bytes = Buffer.from(line, 'utf8');
      const tokens: string[] = [];
      bytes.forEach((byte, index) => {
        const last = index === bytes.length - 1;
        const literal = (byte >= 33 && byte <= 126 && byte !== 61) || ((byte === 32 || byte === 9) && !last);
        tokens.push(literal ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`);
      });
      const out: string[] = [];
      let current = '';
      for (const token of tokens) {
        // 75 leaves room for the soft break's `=`.
        if (current.length + token.length > 75) {
          out.push(`${current}=`);
          current = '';
        }
        current += token;
      }
      out.push(current);
      return out.join('\r\n');
    })
    .join('\r\n');
}

function foldAddresses(addresses: string[]): string {
  return addresses.join(',\r\n ');
}

export function buildEml(input: { from: string; to: string[]; subject: string; text: string; html?: string; date: Date; messageId: string; boundary: string }): string {
  const headers = [
    `From: ${input.from}`,
    `To: ${foldAddresses(input.to)}`,
    `Subject: ${encodeSubject(input.subject)}`,
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: ${input.messageId}`,
    'MIME-Version: 1.0',
  ];
  const part = (type: string, body: string) => [`Content-Type: ${type}; charset=utf-8`, 'Content-Transfer-Encoding: quoted-printable', '', quotedPrintable(body)].join('\r\n');
  if (input.html === undefined) return `${[...headers, part('text/plain', input.text)].join('\r\n')}\r\n`;
  return [
    ...headers,
    `Content-Type: multipart/alternative;\r\n boundary="${input.boundary}"`,
    '',
    'This is a multi-part message in MIME format.',
    `--${input.boundary}`,
    part('text/plain', input.text),
    `--${input.boundary}`,
    part('text/html', input.html),
    `--${input.boundary}--`,
    '',
  ].join('\r\n');
}

// ---------------------------------------------------------------------------
// A minimal SMTP client (RFC 5321): EHLO (HELO as fallback), MAIL FROM, RCPT TO, DATA, QUIT.

/** Lines beginning with a dot get another (RFC 5321 §4.5.2); the data ends with CRLF.CRLF. */
export function dotStuff(data: string): string {
  const normalized = data.replace(/\r?\n/g, '\r\n');
  const stuffed = normalized.replace(/(^|\r\n)\./g, '$1..');
  return `${stuffed}${stuffed.endsWith('\r\n') ? '' : '\r\n'}.\r\n`;
}

export class SmtpError extends Error {
  override name = 'looprail.SmtpError';
}

interface Reply {
  code: number;
  text: string;
}

/** Reads SMTP replies (multi-line `250-…` up to `250 …`) off a socket, one at a time. */
class ReplyReader {
  #buffer = '';
  #lines: string[] = [];
  #waiting?: { resolve: (reply: Reply) => void; reject: (error: Error) => void };
  #failure?: Error;

  constructor(socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let index: number;
      while ((index = this.#buffer.indexOf('\n')) >= 0) {
        this.#lines.push(this.#buffer.slice(0, index).replace(/\r$/, ''));
        this.#buffer = this.#buffer.slice(index + 1);
      }
      this.#deliver();
    });
  }

  fail(error: Error): void {
    this.#failure ??= error;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(this.#failure);
  }

  next(): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.#failure && !this.#complete()) return reject(this.#failure);
      this.#waiting = { resolve, reject };
      this.#deliver();
    });
  }

  #complete(): number {
    const end = this.#lines.findIndex((line) => !/^\d{3}-/.test(line));
    return end + 1;
  }

  #deliver(): void {
    if (!this.#waiting) return;
    const count = this.#complete();
    if (count === 0) return;
    const lines = this.#lines.splice(0, count);
    const code = Number(lines[lines.length - 1]!.slice(0, 3));
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (!Number.isInteger(code)) return waiting.reject(new SmtpError(`the SMTP server answered something that is not a reply: ${lines[0]!.slice(0, 80)}`));
    waiting.resolve({ code, text: lines.map((line) => line.slice(4)).join(' ') });
  }
}

export async function sendSmtp(options: { host: string; port: number; from: string; to: string[]; data: string; timeoutMs: number; heloName?: string }): Promise<void> {
  const where = `${options.host}:${options.port}`;
  const socket = connect({ host: options.host, port: options.port });
  const reader = new ReplyReader(socket);
  socket.setTimeout(options.timeoutMs, () => {
    reader.fail(new SmtpError(`the SMTP server at ${where} did not answer within ${options.timeoutMs} ms`));
    socket.destroy();
  });
  socket.on('error', (error) => reader.fail(new SmtpError(`could not talk to the SMTP server at ${where}: ${error.message}`)));
  socket.on('close', () => reader.fail(new SmtpError(`the SMTP server at ${where} closed the connection`)));

  const expect = async (step: string, accepted: number[]): Promise<Reply> => {
    const reply = await reader.next();
    if (!accepted.includes(reply.code)) throw new SmtpError(`the SMTP server at ${where} refused ${step}: ${reply.code} ${reply.text.slice(0, 200)}`);
    return reply;
  };
  const command = async (line: string, step: string, accepted: number[]): Promise<Reply> => {
    socket.write(`${line}\r\n`);
    return expect(step, accepted);
  };

  try {
    await expect('the connection', [220]);
    const name = options.heloName ?? (osHostname() || 'localhost');
    const ehlo = await command(`EHLO ${name}`, 'EHLO', [250, 500, 501, 502, 504]);
    if (ehlo.code !== 250) await command(`HELO ${name}`, 'HELO', [250]);
    await command(`MAIL FROM:<${options.from}>`, 'the sender', [250]);
    for (const recipient of options.to) await command(`RCPT TO:<${recipient}>`, `the recipient ${recipient}`, [250, 251]);
    await command('DATA', 'DATA', [354]);
    socket.write(dotStuff(options.data));
    await expect('the message', [250]);
    // The message is accepted; a QUIT that goes wrong changes nothing.
    await command('QUIT', 'QUIT', [221]).catch(() => undefined);
  } finally {
    socket.destroy();
  }
}
