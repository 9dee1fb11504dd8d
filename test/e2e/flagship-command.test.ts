import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, ITEMS, remoteBranches, remoteDir } from '../../examples/ci-fixer/flagship/mornings.ts';

/**
 * `npm run flagship` as a newcomer runs it: the command (examples/ci-fixer/flagship/main.ts)
 * on Node 22 in a child process, its own DynamoDB Local, both mornings, the approvals taken
 * through the mailed links. Checked by its exit code, the lines a newcomer reads, and the
 * remote it leaves in its state folder; and its refusals, before anything starts.
 */

const NODE = 'node_modules/node/bin/node';
const COMMAND = 'examples/ci-fixer/flagship/main.ts';
const run = promisify(execFile);

/** The command's exit code and output (stdout and stderr). */
async function flagship(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(NODE, [COMMAND, ...args], { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, out: failed.stdout ?? '', err: failed.stderr ?? '' };
  }
}

const folders: string[] = [];
const folder = async (name: string) => {
  const dir = await mkdtemp(join(tmpdir(), `looprail-flagship-${name}-`));
  folders.push(dir);
  return dir;
};
afterAll(async () => {
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});

describe('npm run flagship', () => {
  let stateDir: string;
  let result: Awaited<ReturnType<typeof flagship>>;

  beforeAll(async () => {
    // A folder a previous start left (its mark, and something stale): wiped before this start.
    stateDir = await folder('state');
    await writeFile(join(stateDir, '.flagship'), 'made by `npm run flagship`\n');
    await writeFile(join(stateDir, 'stale.txt'), 'from the previous start\n');
    result = await flagship('--state-dir', stateDir);
  }, 300_000);

  it('runs both mornings and exits 0', () => {
    expect(result.err).not.toContain('✗');
    expect(result.code).toBe(0);
    expect(existsSync(join(stateDir, 'stale.txt'))).toBe(false);
  });

  it('tells the story a newcomer reads: claims, tests, the approval by its link, the ledger and the note', () => {
    const out = result.out;
    for (const line of [
      '━━ Morning 1 ━━',
      `claimed "${ITEMS.sum}" (attempt 1 of 3)`,
      `claimed "${ITEMS.day}" (attempt 1 of 3)`,
      "check tests (the project's tests, in the sandbox): PASS",
      'checker reviewer (read-only, reads the diff): PASS',
      '✉ mail to lead@example.com',
      'approving it automatically, as lead@example.com would by opening the link',
      '✓ git.git_push: approved by lead@example.com',
      `failed  ${ITEMS.day}  attempt 1`,
      `done    ${ITEMS.sum}  attempt 1`,
      '━━ Overnight ━━',
      '━━ Morning 2 ━━',
      `claimed "${ITEMS.day}" (attempt 2 of 3)`,
      `done    ${ITEMS.day}  attempt 2`,
      'carried in its prompt: the note of morning 1',
      `left alone, done the day before (no call of this morning names it): ${ITEMS.sum}`,
      'npx looprail memory ci-fixer --org examples/ci-fixer --state-dir',
      'http://127.0.0.1:8787/console',
    ])
      expect(out).toContain(line);
    expect(out.match(/link: http:\/\/127\.0\.0\.1:\d+\/approvals\/\S+/g)).toHaveLength(2);
    expect(out.match(/■ verified/g)).toHaveLength(2);
    // The runs it names for `looprail trace` are the two mornings'.
    expect(out.match(/npx looprail trace r-[0-9a-f]{32} --state-dir/g)).toHaveLength(2);
  });

  it('leaves both fix branches on the remote, and the mail and the org copy in the state folder', async () => {
    expect(remoteBranches(stateDir)).toEqual([`fix/${ITEMS.day}`, `fix/${ITEMS.sum}`, 'main']);
    expect(git(remoteDir(stateDir), 'show', `fix/${ITEMS.day}:src/day.js`)).toContain('date.getDate()');
    expect(git(remoteDir(stateDir), 'show', `fix/${ITEMS.day}:src/sum.js`)).toContain('let total = 0;');
    expect((await readdir(join(stateDir, 'outbox'))).filter((name) => name.endsWith('.eml'))).toHaveLength(2);
    expect(existsSync(join(stateDir, 'org-day-2', 'models.yaml'))).toBe(true);
  });
});

describe('npm run flagship refuses before anything starts', () => {
  it('a state folder it did not make, left as it was', async () => {
    const mine = await folder('mine');
    await writeFile(join(mine, 'notes.txt'), 'mine\n');
    const refused = await flagship('--state-dir', mine);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('is not empty and was not made by npm run flagship, so it is not wiped');
    expect(await readdir(mine)).toEqual(['notes.txt']);
  });

  it('an option it does not know, with its usage', async () => {
    const refused = await flagship('--approve');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("Unknown option '--approve'");
    expect(refused.err).toContain('--approve-by-hand');
  });
});
