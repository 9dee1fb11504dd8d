import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkIn, readOutbox, waitForMail } from '../../adapters/mail/outbox-reader.ts';
import { OutboxMailer } from '../../adapters/mail/outbox.ts';

/** Reading back what the local outbox wrote: a mail's parts and its approval link; what it says when there is none. */

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'looprail-outbox-reader-'));
  await new OutboxMailer({ dir, from: 'looprail@localhost' }).send({
    to: ['lead@example.com'],
    subject: '[looprail] approve git.git_push for ci-fixer?',
    text: 'Approve or reject:\nhttp://127.0.0.1:8787/approvals/r-1-a2?r=lead%40example.com&e=1&s=x\n',
    html: '<p>Approve or reject</p>',
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the outbox reader', () => {
  it('reads a mail back: recipient, subject, text, and the approval link in it', async () => {
    const [mail] = await readOutbox(dir);
    expect(mail).toMatchObject({ to: 'lead@example.com', subject: '[looprail] approve git.git_push for ci-fixer?' });
    expect(linkIn(mail!)).toBe('http://127.0.0.1:8787/approvals/r-1-a2?r=lead%40example.com&e=1&s=x');
    expect(await waitForMail(dir, (each) => each.text.includes('r-1-a2'))).toEqual(mail);
  });

  it('finds no mail in a folder not made yet', async () => {
    expect(await readOutbox(join(dir, 'not-yet'))).toEqual([]);
  });

  it('says which mail has no link, and which mail never came', async () => {
    const [mail] = await readOutbox(dir);
    expect(() => linkIn({ ...mail!, text: 'no link here' })).toThrow(`no approval link in mail ${mail!.file}`);
    await expect(
      waitForMail(dir, (each) => each.text.includes('r-2-a3'), { timeoutMs: 100, what: 'approval mail for r-2-a3' }),
    ).rejects.toThrow(`no approval mail for r-2-a3 reached the outbox ${dir} within 0.1 s`);
  });
});
