import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REVIEW_INPUT_EXITS } from '../../cli/commands/review-errors.ts';
import { startLocalHost } from '../../cli/local/host.ts';
import { requestRun } from '../../core/run/request-run.ts';
import { looprailCli } from '../support/looprail-cli.ts';

/**
 * `looprail export`, `replay` and `eval` run as a person runs them: a recorded run of the
 * default org exported to a file, committed beside the org, and replayed from a fresh clone
 * of that repository on a state folder that never saw the run; and each input they cannot
 * use refused with what is wrong and an exit code of its own, so CI can tell them apart.
 */

const run = promisify(execFile);
let repo: string;
let runId: string;
let queuedId: string;
const looprail = (args: string[], cwd = repo) => looprailCli(args, { cwd, timeoutMs: 150_000 });
const git = (cwd: string, ...args: string[]) =>
  run('git', ['-c', 'user.email=ci@example.com', '-c', 'user.name=ci', ...args], { cwd });

beforeAll(async () => {
  repo = await mkdtemp(join(tmpdir(), 'looprail-review-cli-'));
  await cp('agents', join(repo, 'agents'), { recursive: true });
  await cp('package.json', join(repo, 'package.json'));
  // The org's servers start from its project's node_modules/.bin, as in a repository that depends on looprail.
  await symlink(resolve('node_modules'), join(repo, 'node_modules'));
  const host = await startLocalHost({
    orgDir: join(repo, 'agents'),
    stateDir: join(repo, '.looprail'),
    retryIntervalMs: 0,
  });
  try {
    const result = await host.run({ agent: 'morning-triage', input: { repo: 'acme/shop' }, principal: 'local:test' });
    expect(result.meta.stopReason).toBe('verified');
    runId = result.runId;
    // A run recorded and not yet started: it has not ended.
    const queued = await requestRun(host.deps, {
      agent: 'morning-triage',
      input: { repo: 'acme/shop' },
      principal: 'local:test',
      trigger: { kind: 'cli' },
    });
    queuedId = queued.runId;
  } finally {
    await host.close();
  }
}, 240_000);
afterAll(async () => {
  await rm(repo, { recursive: true, force: true });
});

describe('looprail export, then replay in a fresh clone', { timeout: 300_000 }, () => {
  it('replays the exported run from the clone with a state folder of its own: no decision differs', async () => {
    const exported = await looprail(['export', runId, '--out', 'evals/triage.json']);
    expect(exported.stderr).toBe('');
    expect(exported).toMatchObject({ code: 0, stdout: 'wrote evals/triage.json: morning-triage, 3 runs\n' });
    const file = JSON.parse(await readFile(join(repo, 'evals/triage.json'), 'utf8'));
    expect(file).toMatchObject({ looprail_export: 1, runId, agent: 'morning-triage' });

    await writeFile(join(repo, '.gitignore'), 'node_modules\n.looprail/\n');
    await git(repo, 'init', '-q');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'the org and a recorded run');
    const clone = join(repo, 'clone');
    await git(repo, 'clone', '-q', repo, clone);
    await symlink(resolve('node_modules'), join(clone, 'node_modules'));

    const replayed = await looprail(['replay', 'evals/triage.json', '--state-dir', '.fresh-state'], clone);
    expect(replayed.stderr).toBe('');
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain(`replay of morning-triage run ${runId} under the current definitions`);
    expect(replayed.stdout).toMatch(/✓ every decision is the same \(\d+\)/);
  });
});

describe('input replay, export and eval cannot use', { timeout: 300_000 }, () => {
  it('a run id that does not exist: named, with where it looked, exit 3', async () => {
    const result = await looprail(['replay', 'r-nope']);
    expect(result.code).toBe(REVIEW_INPUT_EXITS.no_such_run);
    expect(result.stderr).toMatch(/^looprail: replay: no run r-nope in .*\.looprail \(`looprail runs` lists/);
    const exported = await looprail(['export', 'r-nope']);
    expect(exported.code).toBe(3);
  });

  it('a run that has not ended: refused, exit 4', async () => {
    const result = await looprail(['replay', queuedId]);
    expect(result.code).toBe(REVIEW_INPUT_EXITS.run_not_ended);
    expect(result.stderr).toContain(
      `looprail: replay: run ${queuedId} is still queued; a run is replayed once it has ended`,
    );
  });

  it('an export from a newer looprail: says to upgrade, exit 5; a file that is not an export, exit 6', async () => {
    await mkdir(join(repo, 'evals'), { recursive: true });
    const file = join(repo, 'evals', 'future.json');
    await writeFile(file, JSON.stringify({ looprail_export: 2, runId: 'r-1', something: 'new' }));
    const result = await looprail(['replay', 'evals/future.json']);
    expect(result.code).toBe(REVIEW_INPUT_EXITS.export_too_new);
    expect(result.stderr).toBe(
      'looprail: evals/future.json: written by a newer looprail (export format 2); this looprail reads format 1: upgrade looprail to replay it\n',
    );
    await writeFile(file, JSON.stringify({ looprail_export: 1, runId: 'r-1' }));
    const broken = await looprail(['replay', 'evals/future.json']);
    expect(broken.code).toBe(REVIEW_INPUT_EXITS.bad_file);
    expect(broken.stderr).toMatch(/^looprail: evals\/future\.json: agent: /);
  });

  it('a suite with an unknown key: the file, line and field, exit 6', async () => {
    await mkdir(join(repo, 'evals'), { recursive: true });
    await writeFile(
      join(repo, 'evals', 'suite.yaml'),
      'cases:\n  - name: triage\n    agent: morning-triage\n    turns: [{ text: done }]\n    expect: { stop_reason: completed }\n    expected_cost: 1\n',
    );
    const result = await looprail(['eval', 'evals/suite.yaml']);
    expect(result.code).toBe(REVIEW_INPUT_EXITS.bad_file);
    expect(result.stderr).toMatch(/^looprail: the suite does not load:\n.*evals\/suite\.yaml:6:5: .*expected_cost/);
  });
});
