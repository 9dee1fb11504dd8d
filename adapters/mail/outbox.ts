import { randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { ConfigurationError, ValidationError } from '../../core/errors.ts';
import type { Mailer, MailMessage } from '../../core/ports/mail.ts';

/**
 * The local host's Mailer: every message is written to `<outbox dir>/*.eml` (RFC 5322,
 * MIME multipart/alternative with a text/plain and a text/html part, quoted-printable,
 * composed by nodemailer), a one-line notice goes to `log`, and, when an SMTP URL is
 * configured, the same bytes are relayed over SMTP with nodemailer's SMTP transport.
 *
 * The SMTP URL (LOOPRAIL_SMTP_URL on the local host):
 * - `smtp://host[:port]` (port 25): STARTTLS when the server offers it, in clear otherwise;
 *   `smtp://host:port?requireTLS=true` refuses to go on without STARTTLS;
 * - `smtps://host[:port]` (port 465): TLS from the first byte;
 * - `user:password@` in either (percent-encoded) logs in with AUTH; over `smtp://` it then
 *   requires STARTTLS, so credentials never cross the network in clear.
 * Certificates are checked against Node's CAs (NODE_EXTRA_CA_CERTS adds a local one).
 */

export interface OutboxMailerOptions {
  /** The folder the .eml files are written to (created when needed). */
  dir: string;
  /** The sender, a bare address: `looprail@localhost`. */
  from: string;
  /** `smtp://` or `smtps://` URL, as above: also relay each message there. */
  smtpUrl?: string;
  /** One line per message written (and relayed): recipients, subject and file; never the body. */
  log?: (line: string) => void;
  /** For tests: the message's Date header and file name. */
  now?: () => Date;
  /** Per SMTP reply; the connection is dropped and the send fails after it. */
  smtpTimeoutMs?: number;
  /** TLS settings for the relay (tests: a server's own certificate as `ca`). */
  smtpTls?: ConnectionOptions;
}

export interface SmtpSettings {
  host: string;
  port: number;
  /** TLS from the first byte (smtps://). */
  secure: boolean;
  /** Fail unless the server upgrades the connection with STARTTLS. */
  requireTLS: boolean;
  auth?: { user: string; pass: string };
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
  readonly #smtp?: SmtpSettings;
  readonly #log: (line: string) => void;
  readonly #now: () => Date;
  readonly #timeoutMs: number;
  readonly #tls?: ConnectionOptions;

  constructor(options: OutboxMailerOptions) {
    this.dir = options.dir;
    this.#from = checkAddress(options.from, 'the sender');
    this.#smtp = options.smtpUrl ? parseSmtpUrl(options.smtpUrl) : undefined;
    this.#log = options.log ?? (() => {});
    this.#now = options.now ?? (() => new Date());
    this.#timeoutMs = options.smtpTimeoutMs ?? 10_000;
    this.#tls = options.smtpTls;
  }

  async send(message: MailMessage): Promise<{ messageId: string }> {
    if (message.to.length === 0) throw new ValidationError('a message needs at least one recipient');
    const to = message.to.map((address) => checkAddress(address, 'a recipient'));
    const date = this.#now();
    const id = randomUUID();
    const messageId = `<${id}@${this.#from.split('@')[1]}>`;
    const { text, html } = message;
    const eml = await composeEml({ from: this.#from, to, subject: message.subject, text, html, date, messageId });

    await mkdir(this.dir, { recursive: true });
    const name = `${date.toISOString().replace(/[:.]/g, '-')}-${id.slice(0, 8)}.eml`;
    const path = join(this.dir, name);
    // Written whole or not at all: a reader of the outbox never sees half a message.
    await writeFile(`${path}.tmp`, eml);
    await rename(`${path}.tmp`, path);
    const subject = oneLine(message.subject);
    this.#log(`mail to ${to.join(', ')}: "${subject}" → ${path}`);

    if (this.#smtp) {
      await relay(this.#smtp, { from: this.#from, to, eml, timeoutMs: this.#timeoutMs, tls: this.#tls });
      const scheme = this.#smtp.secure ? 'smtps' : 'smtp';
      this.#log(`mail to ${to.join(', ')}: "${subject}" relayed to ${scheme}://${this.#smtp.host}:${this.#smtp.port}`);
    }
    return { messageId };
  }
}

export function parseSmtpUrl(value: string): SmtpSettings {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError('the SMTP URL is not a URL: expected smtp://host:port or smtps://host:port');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw new ConfigurationError(
      `the SMTP URL's scheme ${url.protocol} is not supported: expected smtp://host:port or smtps://host:port`,
    );
  }
  if (!url.hostname) throw new ConfigurationError('the SMTP URL has no host: expected smtp://host:port');
  const unknown = [...url.searchParams.keys()].filter((key) => key !== 'requireTLS');
  if (unknown.length > 0) {
    throw new ConfigurationError(`the SMTP URL has unknown settings: ${unknown.join(', ')} (only requireTLS=true)`);
  }
  const secure = url.protocol === 'smtps:';
  const auth =
    url.username || url.password
      ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
      : undefined;
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : secure ? 465 : 25,
    secure,
    // Credentials only over TLS: STARTTLS is required when the URL carries them.
    requireTLS: !secure && (auth !== undefined || url.searchParams.get('requireTLS') === 'true'),
    ...(auth ? { auth } : {}),
  };
}

// ---------------------------------------------------------------------------
// RFC 5322 / MIME message, by nodemailer's MailComposer

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

/** Every text part quoted-printable, so the .eml reads the same whatever the content. */
const QUOTED_PRINTABLE = { contentTransferEncoding: 'quoted-printable' } as const;

interface EmlInput {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html?: string;
  date: Date;
  messageId: string;
}

function composeEml(input: EmlInput): Promise<Buffer> {
  const composer = new MailComposer({
    from: input.from,
    to: input.to,
    subject: oneLine(input.subject),
    text: { content: input.text, ...QUOTED_PRINTABLE },
    ...(input.html === undefined ? {} : { html: { content: input.html, ...QUOTED_PRINTABLE } }),
    date: input.date,
    messageId: input.messageId,
    textEncoding: 'base64',
    boundaryPrefix: 'looprail',
    newline: 'windows',
    // Only what is given is sent: no file or URL is ever read into a message.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return composer.compile().build();
}

// ---------------------------------------------------------------------------
// SMTP relay, by nodemailer's SMTP transport

export class SmtpError extends Error {
  override name = 'looprail.SmtpError';
}

interface SmtpFailure extends Error {
  code?: string;
  command?: string;
  response?: string;
  rejected?: string[];
}

const STEPS: Record<string, string> = {
  'MAIL FROM': 'the sender',
  DATA: 'DATA',
  STARTTLS: 'STARTTLS',
  CONN: 'the connection',
};

function refusedStep(error: SmtpFailure): string {
  if (error.command === 'RCPT TO') return `the recipient ${(error.rejected ?? []).join(', ')}`;
  if (error.command?.startsWith('AUTH')) return 'the credentials';
  return STEPS[error.command ?? ''] ?? 'the message';
}

/** Nodemailer's error in the words the host logs: which step the server refused, and its answer. */
function smtpError(error: SmtpFailure, where: string, timeoutMs: number): SmtpError {
  if (error.code === 'ETIMEDOUT') {
    return new SmtpError(`the SMTP server at ${where} did not answer within ${timeoutMs} ms`);
  }
  if (error.response) {
    return new SmtpError(`the SMTP server at ${where} refused ${refusedStep(error)}: ${error.response.slice(0, 200)}`);
  }
  return new SmtpError(`could not talk to the SMTP server at ${where}: ${error.message}`);
}

interface Relayed {
  from: string;
  to: string[];
  eml: Buffer;
  timeoutMs: number;
  tls?: ConnectionOptions;
}

async function relay(settings: SmtpSettings, message: Relayed): Promise<void> {
  const options: SMTPTransport.Options = {
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    requireTLS: settings.requireTLS,
    ...(settings.auth ? { auth: settings.auth } : {}),
    ...(message.tls ? { tls: message.tls } : {}),
    connectionTimeout: message.timeoutMs,
    greetingTimeout: message.timeoutMs,
    socketTimeout: message.timeoutMs,
    logger: false,
  };
  const transport = createTransport(options);
  try {
    // The bytes written to the outbox, as they are; the envelope is given, not read back from headers.
    await transport.sendMail({ envelope: { from: message.from, to: message.to }, raw: message.eml });
  } catch (error) {
    throw smtpError(error as SmtpFailure, `${settings.host}:${settings.port}`, message.timeoutMs);
  } finally {
    transport.close();
  }
}
