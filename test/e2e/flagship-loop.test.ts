import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startLocalHost, type LocalHost } from '../../cli/local/host.ts';
import { startHttpServer } from '../../cli/http-server.ts';
import { createApi } from '../../functions/http/api/index.ts';
import type { Message } from '../../core/definitions/messages.ts';
import { ledgerNow } from '../../core/memory/operations.ts';
import { linkIn, runUntilPaused, waitForMail } from '../support/approvals.ts';

/**
 * The flagship loop (examples/ci-fixer) on the local host, two mornings in a row: real
 * filesystem and Git MCP servers from npm, the sandbox, DynamoDB Local, the emailed approval.
 * The first morning claims last night's two CI failures, fixes one, tests it (verify.checks),
 * has it reviewed and pushes a branch to a local bare remote once the lead approves; the
 * other is marked failed. The next morning reads the note, leaves the done item alone and
 * fixes the failed one. The model is scripted: each morning plays its own script.
 */

const ORG = 'examples/ci-fixer';
const APPROVER = 'lead@example.com';
const SUM = 'calc-sum-2026-12-05';
const DAY = 'calc-day-2026-12-05';

let stateDir: string;
let sandboxRoot: string;
let dayTwoOrg: string;
const tableName = `looprail-e2e-${randomUUID()}`;
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const remote = () => join(stateDir, 'ci-fixer', 'remote.git');
const branches = () => git(remote(), 'branch', '--format=%(refname:short)').split('\n').filter(Boolean).sort();

/** The team's Git remote (bare) and its working copy, in the state folder the servers are pointed at. */
async function gitRemote(): Promise<void> {
  const base = join(stateDir, 'ci-fixer');
  await mkdir(base, { recursive: true });
  git(base, 'init', '--quiet', '--bare', '--initial-branch=main', 'remote.git');
  git(base, 'clone', '--quiet', 'remote.git', 'calc');
  const calc = join(base, 'calc');
  await cp(join(ORG, 'repos', 'calc'), calc, { recursive: true });
  git(calc, 'config', 'user.name', 'ci-fixer');
  git(calc, 'config', 'user.email', 'ci-fixer@example.com');
  git(calc, 'checkout', '--quiet', '-b', 'main');
  git(calc, 'add', '.');
  git(calc, 'commit', '--quiet', '-m', 'calc with two failing tests');
  git(calc, 'push', '--quiet', 'origin', 'main');
}

/**
 * Between the mornings: the team merges the pushed branch into main, so this morning's
 * sandbox starts from main with it; and the scripted model plays the second morning's script.
 */
async function overnight(): Promise<void> {
  const calc = join(stateDir, 'ci-fixer', 'calc');
  git(calc, 'checkout', '--quiet', 'main');
  git(calc, 'merge', '--quiet', '--ff-only', `fix/${SUM}`);
  git(calc, 'push', '--quiet', 'origin', 'main');
  dayTwoOrg = await mkdtemp(join(tmpdir(), 'looprail-flagship-org-'));
  await cp(ORG, dayTwoOrg, { recursive: true });
  await cp(join(calc, 'src', 'sum.js'), join(dayTwoOrg, 'repos', 'calc', 'src', 'sum.js'));
  const models = await readFile(join(ORG, 'models.yaml'), 'utf8');
  await writeFile(join(dayTwoOrg, 'models.yaml'), models.replace('scripts/day-1.yaml', 'scripts/day-2.yaml'));
}

/** A morning's host, with the HTTP server the mailed approval link points at. */
async function open(orgDir: string) {
  const host = await startLocalHost({
    projectRoot: process.cwd(),
    orgDir,
    stateDir,
    dynamodbEndpoint: inject('dynamodbEndpoint'),
    tableName,
    retryIntervalMs: 0,
    sandboxRoot,
  });
  const api = createApi({ ...host.deps, executions: host.executions, secrets: host.secrets });
  const server = await startHttpServer({ app: api.handle, token: randomUUID(), user: 'tester' });
  host.setPublicUrl(server.url);
  return {
    ...host,
    async close() {
      await server.close();
      await host.close();
    },
  };
}

/** One morning: the run pauses at the push, the lead opens the mailed link and approves, the run ends. */
async function morning(host: LocalHost) {
  const { running, paused } = await runUntilPaused(host, 'ci-fixer');
  const approvalId = paused.pendingApprovalId!;
  const mail = await waitForMail(join(stateDir, 'outbox'), (each) => each.text.includes(approvalId));
  const before = branches();
  const link = linkIn(mail);
  const page = await (await fetch(link)).text();
  const formToken = /name="form_token" value="([^"]+)"/.exec(page)?.[1] ?? 'no form on the approval page';
  const decided = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ form_token: formToken, decision: 'approve' }).toString(),
  });
  expect(await decided.text()).toContain(`Approved by ${APPROVER}`);
  const result = await running;
  const trace = await host.deps.store.listTrace(result.runId);
  const state = await host.deps.store.loadState(result.runId);
  return { ...result, trace, messages: state!.messages, mail, page, before };
}

const firstText = (messages: Message[]) => {
  const block = messages[0]!.content[0]!;
  return block.type === 'text' ? block.text : '';
};
const toolCalls = (messages: Message[]) =>
  messages.flatMap((message) => message.content).flatMap((block) => (block.type === 'tool_call' ? [block] : []));
const results = (messages: Message[]) =>
  messages
    .flatMap((message) => message.content)
    .flatMap((block) => (block.type === 'tool_result' ? [{ name: block.name, text: block.content }] : []));

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'looprail-flagship-'));
  sandboxRoot = await mkdtemp(join(tmpdir(), 'looprail-flagship-sandboxes-'));
  await chmod(sandboxRoot, 0o711);
  await gitRemote();
});
afterAll(async () => {
  for (const dir of [stateDir, sandboxRoot, dayTwoOrg]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the flagship loop: two mornings of examples/ci-fixer', () => {
  it('fixes, tests, reviews and pushes behind an approval; the next morning reads the note, skips the done item and retries the failed one', async () => {
    const dayOne = await open(ORG);
    let first: Awaited<ReturnType<typeof morning>>;
    try {
      first = await morning(dayOne);
      expect(first.meta).toMatchObject({ status: 'finished', stopReason: 'verified' });
      // The push waited for the lead: nothing reached the remote before the approval.
      expect(first.mail.to).toBe(APPROVER);
      expect(first.mail.text).toContain('git.git_push');
      expect(first.page).toContain(`fix/${SUM}`);
      expect(first.before).toEqual(['main']);
      expect(branches()).toEqual([`fix/${SUM}`, 'main']);
      expect(git(remote(), 'show', `fix/${SUM}:src/sum.js`)).toContain('let total = 0;');
      const kinds = first.trace.map((event) => `${event.kind}:${event.name}`);
      expect(kinds.indexOf('approval_decided:git.git_push')).toBeLessThan(kinds.indexOf('tool_call:git.git_push'));
      // The tests ran in the sandbox before the reviewer, which passed the diff.
      const verification = first.trace.filter((event) => event.kind === 'verification');
      expect(verification.map((event) => [event.role, event.name, event.status])).toEqual([
        ['maker', 'tests', 'pass'],
        ['checker', 'reviewer', 'pass'],
      ]);
      const ledger = await ledgerNow(dayOne.deps.memory!, 'ci-fixer', new Date());
      expect(ledger.map(({ id, state, attempts, runId }) => ({ id, state, attempts, runId }))).toEqual(
        expect.arrayContaining([
          { id: SUM, state: 'done', attempts: 1, runId: first.runId },
          { id: DAY, state: 'failed', attempts: 1, runId: first.runId },
        ]),
      );
    } finally {
      await dayOne.close();
    }

    await overnight();
    const dayTwo = await open(dayTwoOrg);
    try {
      const second = await morning(dayTwo);
      expect(second.meta).toMatchObject({ status: 'finished', stopReason: 'verified' });
      // Its prompt carries the first morning's note.
      const prompt = firstText(second.messages);
      expect(prompt).toContain('# Handoff note from the previous run');
      expect(prompt).toContain(`Written by run ${first.runId}`);
      expect(prompt).toContain('Next: reproduce with TZ=America/Los_Angeles node test.js.');
      // Its push, too, waited for the lead; its fix was tested and reviewed.
      expect(second.before).toEqual([`fix/${SUM}`, 'main']);
      expect(
        second.trace.filter((event) => event.kind === 'verification').map((event) => [event.name, event.status]),
      ).toEqual([
        ['tests', 'pass'],
        ['reviewer', 'pass'],
      ]);
      // The done item: no tool call of the second morning names it.
      const calls = toolCalls(second.messages);
      expect(calls.length).toBeGreaterThan(5);
      expect(calls.filter((call) => JSON.stringify(call.arguments).includes(SUM))).toEqual([]);
      // The failed one is claimed again, its second attempt, fixed and pushed.
      const claimed = results(second.messages).find((result) => result.name === 'looprail__ledger_claim');
      expect(claimed!.text).toContain(`claimed "${DAY}" (attempt 2 of 3)`);
      expect(branches()).toEqual([`fix/${DAY}`, `fix/${SUM}`, 'main']);
      expect(git(remote(), 'show', `fix/${DAY}:src/day.js`)).toContain('date.getDate()');
      // Branched from main, which has yesterday's merged fix.
      expect(git(remote(), 'show', `fix/${DAY}:src/sum.js`)).toContain('let total = 0;');
      const ledger = await ledgerNow(dayTwo.deps.memory!, 'ci-fixer', new Date());
      expect(ledger.map(({ id, state, attempts, runId }) => ({ id, state, attempts, runId }))).toEqual(
        expect.arrayContaining([
          { id: SUM, state: 'done', attempts: 1, runId: first.runId },
          { id: DAY, state: 'done', attempts: 2, runId: second.runId },
        ]),
      );
      const notes = await dayTwo.deps.memory!.listNotes('ci-fixer', 5);
      expect(notes.map((note) => [note.version, note.runId])).toEqual([
        [2, second.runId],
        [1, first.runId],
      ]);
    } finally {
      await dayTwo.close();
    }
  });
});
