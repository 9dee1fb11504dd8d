import { join } from 'node:path';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { LocalHost } from '../../cli/local/host.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import { runIdFor } from '../../core/run/ids.ts';

/** Helpers for approval tests: an org with approval agents, and the outbox reader (adapters/mail/outbox-reader.ts). */

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

export {
  decodeQuotedPrintable,
  linkIn,
  readOutbox,
  waitForMail,
  type OutboxMail,
} from '../../adapters/mail/outbox-reader.ts';

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
