import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { formatProblem, loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { diffAccess, type AccessDiff } from '../../core/review/access-diff.ts';
import { accessProfiles } from '../../core/review/access-profile.ts';
import { diffMarkdown, diffText } from '../output/access-diff.ts';

/**
 * `looprail diff [--base <ref>] [--org <folder>]`: what a change to the definitions does to
 * what each agent may do, the working tree against a git ref. Exit 0 when nothing widens,
 * 2 when access widened (so CI can ask for another reviewer), 1 when either side does not
 * load.
 */

export const DIFF_WIDENED_EXIT = 2;

export function registerDiffCommand(program: Command): void {
  program
    .command('diff')
    .description('what a change to the definitions does to what each agent may do (working tree against a git ref)')
    .option('--base <ref>', 'the git ref to compare with', 'HEAD')
    .option('--org <dir>', 'the org folder with the definitions', 'agents')
    .option('--json', 'machine-readable output')
    .option('--markdown', 'a Markdown report, for a pull request comment')
    .action(async (options: { base: string; org: string; json?: boolean; markdown?: boolean }) => {
      const result = await accessDiff({ base: options.base, org: options.org, cwd: process.cwd() });
      if ('problems' in result) {
        for (const line of result.problems) console.error(line);
        process.exitCode = 1;
        return;
      }
      const { diff } = result;
      if (options.json) console.log(JSON.stringify({ base: options.base, org: options.org, ...diff }, null, 2));
      else if (options.markdown) console.log(diffMarkdown(diff, options.base));
      else console.log(diffText(diff, options.base));
      process.exitCode = diff.widened ? DIFF_WIDENED_EXIT : 0;
    });
}

type DiffResult = { diff: AccessDiff } | { problems: string[] };

/** Loads the org folder at `base` (from git) and in the working tree, and compares what each agent may do. */
export async function accessDiff(options: { base: string; org: string; cwd: string }): Promise<DiffResult> {
  const repo = (await git(options.cwd, ['rev-parse', '--show-toplevel'])).trim();
  const orgInRepo = relative(repo, resolve(options.cwd, options.org));
  if (orgInRepo.startsWith('..'))
    return { problems: [`looprail diff: ${options.org} is not inside the git repository ${repo}`] };
  await git(repo, ['rev-parse', '--verify', '--quiet', `${options.base}^{commit}`]).catch(() => {
    throw new Error(`diff: no commit "${options.base}" in ${repo} (give --base a branch, tag or commit)`);
  });
  const baseTree = await mkdtemp(join(tmpdir(), 'looprail-diff-'));
  try {
    await extract(repo, options.base, baseTree);
    const baseOrg = join(baseTree, orgInRepo);
    const before = existsSync(baseOrg)
      ? await load('.', baseOrg, options.cwd, `${options.base}:${orgInRepo}/`)
      : { catalog: undefined, problems: [] };
    const after = await load(options.org, options.cwd, options.cwd);
    const problems = [...before.problems, ...after.problems];
    if (problems.length > 0) return { problems };
    return {
      diff: diffAccess(before.catalog ? accessProfiles(before.catalog) : new Map(), accessProfiles(after.catalog!)),
    };
  } finally {
    await rm(baseTree, { recursive: true, force: true });
  }
}

/** An org folder's catalog, or its errors as `file:line` lines (prefixed with the side they are on). */
async function load(
  target: string,
  cwd: string,
  projectRoot: string,
  prefix = '',
): Promise<{ catalog: Catalog | undefined; problems: string[] }> {
  // Hosting and the lock are about deploying, not access (and the base tree has no node_modules):
  // `looprail validate` checks them.
  const { catalog, problems } = await loadOrgFolder(target, cwd, {
    projectRoot,
    skipHostingCheck: true,
    ignoreLock: true,
  });
  const errors = problems.filter((problem) => problem.severity === 'error');
  return { catalog, problems: errors.map((problem) => `${prefix}${formatProblem(problem)}`) };
}

/** The tree of `ref` in `dir`, as `git archive` writes it (nothing of the working tree). */
async function extract(repo: string, ref: string, dir: string): Promise<void> {
  await new Promise<void>((done, fail) => {
    const archive = spawn('git', ['archive', '--format=tar', ref], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
    archive.stdout.pipe(tar.stdin);
    let errors = '';
    archive.stderr.on('data', (chunk) => (errors += chunk));
    tar.stderr.on('data', (chunk) => (errors += chunk));
    tar.on('close', (code) => (code === 0 ? done() : fail(new Error(`diff: could not read ${ref}: ${errors.trim()}`))));
  });
}

function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errors = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (errors += chunk));
    child.on('error', (error) => fail(new Error(`diff needs git: ${error.message}`)));
    child.on('close', (code) =>
      code === 0
        ? done(out)
        : fail(new Error(`diff: git ${args[0]} failed in ${cwd}: ${errors.trim() || `exit ${code}`}`)),
    );
  });
}
