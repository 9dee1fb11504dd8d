import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Reads back what the local host's OutboxMailer (./outbox.ts) wrote: the `.eml` files of
 * `<state dir>/outbox/`, their recipient, subject and decoded text and HTML parts, and the
 * approval link in a mail. `npm run flagship` follows the approval mail's link with it, as
 * the tests do.
 */

export interface OutboxMail {
  file: string;
  raw: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Decodes a quoted-printable body (soft line breaks, =XX bytes) as UTF-8. */
export function decodeQuotedPrintable(text: string): string {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    if (joined[i] === '=' && /^[0-9A-F]{2}$/.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function part(raw: string, type: string): string {
  const match = new RegExp(
    `Content-Type: ${type}; charset=utf-8\\r\\nContent-Transfer-Encoding: quoted-printable\\r\\n\\r\\n([\\s\\S]*?)(?:\\r\\n--looprail-|$)`,
  ).exec(raw);
  return match ? decodeQuotedPrintable(match[1]!) : '';
}

/** Every mail in the outbox folder, oldest first (their file names start with the time); none when it does not exist yet. */
export async function readOutbox(dir: string): Promise<OutboxMail[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.eml')).sort();
  } catch {
    return [];
  }
  return Promise.all(
    names.map(async (name) => {
      const raw = await readFile(join(dir, name), 'utf8');
      return {
        file: name,
        raw,
        to: /^To: (.*)$/m.exec(raw)?.[1] ?? '',
        subject: /^Subject: (.*)$/m.exec(raw)?.[1] ?? '',
        text: part(raw, 'text/plain'),
        html: part(raw, 'text/html'),
      };
    }),
  );
}

/** The approval link in a mail's text part. */
export function linkIn(mail: OutboxMail): string {
  const link = /^(http:\/\/\S+\/approvals\/\S+)$/m.exec(mail.text)?.[1];
  if (!link) throw new Error(`no approval link in mail ${mail.file}`);
  return link;
}

const POLL_MS = 25;
const DEFAULT_WAIT_MS = 10_000;

/** Polls the outbox until a mail matches; past `timeoutMs` (default 10 s) it fails saying what it waited for. */
export async function waitForMail(
  dir: string,
  predicate: (mail: OutboxMail) => boolean,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<OutboxMail> {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_WAIT_MS);
  for (;;) {
    const found = (await readOutbox(dir)).find(predicate);
    if (found) return found;
    if (Date.now() >= deadline)
      throw new Error(
        `no ${options.what ?? 'such mail'} reached the outbox ${dir} within ${(options.timeoutMs ?? DEFAULT_WAIT_MS) / 1000} s`,
      );
    await sleep(POLL_MS);
  }
}
