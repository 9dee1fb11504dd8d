import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { LocalHost } from '../../cli/local/host.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import { runIdFor } from '../../core/run/ids.ts';

/** Helpers for approval tests: an org with approval agents, the outbox, the links in it. */

/** loop-org plus agents that reject by stopping, and that need two distinct approvers. */
export async function approvalOrg(): Promise<string> {
  const org = await mkdtemp(join(tmpdir(), 'looprail-approval-org-'));
  await cp('test/fixtures/loop-org', org, { recursive: true });
  const agent = (name: string, rule: string) =>
    [
      'agent:',
      `  name: ${name}`,
      '  owner: tests@example.com',
      '  team: tests',
      '  model: s-approval',
      '  instructions: ./instructions.md@v1',
      '  mcp_servers:',
      '    - name: notes',
      '      deny: [delete_entities]',
      '    - everything',
      '  approvals:',
      `    notes.create_entities: ${rule}`,
      '',
    ].join('\n');
  await writeFile(
    join(org, 'approval-stop.yaml'),
    agent('approval-stop', '{ approvers: [lead@example.com], timeout: 1h, on_reject: stop }'),
  );
  await writeFile(
    join(org, 'approval-pair.yaml'),
    agent('approval-pair', '{ approvers: [lead@example.com, second@example.com], timeout: 1h, two_person: true }'),
  );
  return org;
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

export interface OutboxMail {
  file: string;
  raw: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

function part(raw: string, type: string): string {
  const match = new RegExp(
    `Content-Type: ${type}; charset=utf-8\\r\\nContent-Transfer-Encoding: quoted-printable\\r\\n\\r\\n([\\s\\S]*?)(?:\\r\\n--looprail-|$)`,
  ).exec(raw);
  return match ? decodeQuotedPrintable(match[1]!) : '';
}

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

/** Polls (without a deadline assertion) until a mail for the approval reaches the outbox. */
export async function waitForMail(dir: string, predicate: (mail: OutboxMail) => boolean): Promise<OutboxMail> {
  for (let i = 0; i < 400; i++) {
    const found = (await readOutbox(dir)).find(predicate);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('no such mail reached the outbox');
}

/** Starts a run in the background and waits until it pauses for an approval. */
export async function runUntilPaused(host: LocalHost, agent: string, signal?: AbortSignal) {
  const dedupeKey = `${agent}-${Math.random().toString(36).slice(2)}`;
  const running = host.run({ agent, input: {}, dedupeKey }, signal);
  running.catch(() => undefined);
  const runId = runIdFor(agent, dedupeKey);
  for (let i = 0; i < 400; i++) {
    const paused: RunMeta | undefined = await host.deps.store.getRun(runId);
    if (paused?.status === 'paused') return { running, paused };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`the ${agent} run never paused`);
}
