import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import {
  APPROVER,
  approveByLink,
  git,
  ITEMS,
  ORG_DIR,
  openMorning,
  overnight,
  prepareRemote,
  promptOf,
  remoteBranches,
  remoteDir,
  runMorning,
  toolCalls,
  toolResults,
} from '../../examples/ci-fixer/flagship/mornings.ts';

/**
 * The flagship loop (examples/ci-fixer) on the local host, two mornings in a row: real
 * filesystem and Git MCP servers from npm, the sandbox, DynamoDB Local, the emailed approval.
 * The first morning claims last night's two CI failures, fixes one, tests it (verify.checks),
 * has it reviewed and pushes a branch to a local bare remote once the lead approves; the
 * other is marked failed. The next morning reads the note, leaves the done item alone and
 * fixes the failed one. The model is scripted: each morning plays its own script. The
 * mechanics are those `npm run flagship` runs (examples/ci-fixer/flagship/mornings.ts).
 */

const SUM = ITEMS.sum;
const DAY = ITEMS.day;

let stateDir: string;
let sandboxRoot: string;
let dayTwoOrg: string;
const tableName = `looprail-e2e-${randomUUID()}`;
const remote = () => remoteDir(stateDir);
const branches = () => remoteBranches(stateDir);

/** A morning's host on the tests' DynamoDB Local, with the HTTP server the mailed approval link points at. */
const open = (orgDir: string) =>
  openMorning({ orgDir, stateDir, dynamodbEndpoint: inject('dynamodbEndpoint'), tableName, sandboxRoot });

/** One morning: the run pauses for the push, the lead opens the mailed link and approves, the run ends. */
async function morning(host: Awaited<ReturnType<typeof open>>, dedupeKey: string) {
  const run = await runMorning(host, { dedupeKey, decide: approveByLink });
  expect(run.approvals).toHaveLength(1);
  const [{ mail, page, answer, branchesBefore: before }] = run.approvals as [(typeof run.approvals)[number]];
  expect(answer).toContain(`Approved by ${APPROVER}`);
  return { ...run, mail, page: page!, before };
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'looprail-flagship-'));
  sandboxRoot = await mkdtemp(join(tmpdir(), 'looprail-flagship-sandboxes-'));
  dayTwoOrg = await mkdtemp(join(tmpdir(), 'looprail-flagship-org-'));
  await chmod(sandboxRoot, 0o711);
  await prepareRemote(stateDir);
});
afterAll(async () => {
  for (const dir of [stateDir, sandboxRoot, dayTwoOrg]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the flagship loop: two mornings of examples/ci-fixer', () => {
  it('fixes, tests, reviews and pushes behind an approval; the next morning reads the note, skips the done item and retries the failed one', async () => {
    const dayOne = await open(ORG_DIR);
    let first: Awaited<ReturnType<typeof morning>>;
    try {
      first = await morning(dayOne, 'morning-1');
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
      // Only verified work is proposed (verify.release): the lead is asked after the tests and the reviewer passed.
      expect(kinds.indexOf('verification:reviewer')).toBeLessThan(kinds.indexOf('approval_requested:git.git_push'));
      expect(first.meta.stopDetail).toBe(
        'the checker passed attempt 1; the maker then finished with the tools it released (verify.release)',
      );
      expect(first.ledger.map(({ id, state, attempts, runId }) => ({ id, state, attempts, runId }))).toEqual(
        expect.arrayContaining([
          { id: SUM, state: 'done', attempts: 1, runId: first.runId },
          { id: DAY, state: 'failed', attempts: 1, runId: first.runId },
        ]),
      );
    } finally {
      await dayOne.close();
    }

    await overnight(stateDir, dayTwoOrg);
    const dayTwo = await open(dayTwoOrg);
    try {
      const second = await morning(dayTwo, 'morning-2');
      expect(second.meta).toMatchObject({ status: 'finished', stopReason: 'verified' });
      // Its prompt carries the first morning's note.
      const prompt = promptOf(second.messages);
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
      const claimed = toolResults(second.messages).find((result) => result.name === 'looprail__ledger_claim');
      expect(claimed!.text).toContain(`claimed "${DAY}" (attempt 2 of 3)`);
      expect(branches()).toEqual([`fix/${DAY}`, `fix/${SUM}`, 'main']);
      expect(git(remote(), 'show', `fix/${DAY}:src/day.js`)).toContain('date.getDate()');
      // Branched from main, which has yesterday's merged fix.
      expect(git(remote(), 'show', `fix/${DAY}:src/sum.js`)).toContain('let total = 0;');
      expect(second.ledger.map(({ id, state, attempts, runId }) => ({ id, state, attempts, runId }))).toEqual(
        expect.arrayContaining([
          { id: SUM, state: 'done', attempts: 1, runId: first.runId },
          { id: DAY, state: 'done', attempts: 2, runId: second.runId },
        ]),
      );
      expect(second.notes.map((note) => [note.version, note.runId])).toEqual([
        [2, second.runId],
        [1, first.runId],
      ]);
    } finally {
      await dayTwo.close();
    }
  }, 180_000);
});
