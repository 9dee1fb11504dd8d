import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { formatProblem, type Problem } from '../../core/definitions/problems.ts';
import type { OrgFile } from '../../core/definitions/org-validation.ts';
import { validateOrg } from '../../core/definitions/validate.ts';
import { guardrailRules } from '../../guardrails/rules.ts';
import { hostingProblems } from './hosting-check.ts';
import { projectRootOf } from './project-root.ts';

export { formatProblem };
export type { Problem };

const MAX_FILE_BYTES = 1024 * 1024;
const SKIP_DIRS = new Set(['node_modules', '.git', '.looprail', 'cdk.out']);

/** The org folder that holds `target`: the folder itself, or the nearest parent with a models.yaml. */
async function findRoot(target: string): Promise<string> {
  const info = await stat(target);
  if (info.isDirectory()) return target;
  let dir = dirname(target);
  for (let i = 0; i < 20; i++) {
    if (await exists(join(dir, 'models.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return dirname(target);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.') || SKIP_DIRS.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path)));
    else if (entry.isFile() && /\.(ya?ml|md)$/i.test(entry.name)) files.push(path);
  }
  return files.sort();
}

/**
 * Reads an org folder (or the folder around one file) and validates it whole, then checks
 * that every stdio server can be hosted on AWS (hosting-check.ts). Paths in problems are
 * shown relative to the current directory; servers' commands and files are found from
 * `projectRoot` (default: the project that holds the org, project-root.ts), as the local host starts them.
 */
export async function loadOrgFolder(
  target: string,
  cwd = process.cwd(),
  options: {
    ignoreLock?: boolean;
    projectRoot?: string;
    skipHostingCheck?: boolean;
    /** Files (path in the org folder → text) read as if written: a scaffold is checked before anything is. */
    overlay?: Record<string, string>;
  } = {},
): Promise<{ root: string; catalog?: Catalog; problems: Problem[] }> {
  const absolute = resolve(cwd, target);
  if (!(await exists(absolute))) {
    return {
      root: absolute,
      problems: [{ file: target, line: 1, col: 1, path: '', message: 'no such file or folder', severity: 'error' }],
    };
  }
  const root = await findRoot(absolute);
  const files: OrgFile[] = [];
  const problems: Problem[] = [];
  for (const path of await listFiles(root)) {
    // Relative to where the user is, unless that climbs out of it: then the absolute path is clearer.
    const fromCwd = relative(cwd, path);
    const display = fromCwd && !fromCwd.startsWith('..') ? fromCwd : path;
    const size = (await stat(path)).size;
    if (size > MAX_FILE_BYTES) {
      problems.push({
        file: display,
        line: 1,
        col: 1,
        path: '',
        message: `file is ${size} bytes; definitions are limited to ${MAX_FILE_BYTES}`,
        severity: 'error',
      });
      continue;
    }
    const text = await readFile(path, 'utf8');
    files.push({ path: relative(root, path).split(sep).join('/'), display, text });
  }
  for (const [path, text] of Object.entries(options.overlay ?? {})) {
    const fromCwd = relative(cwd, join(root, path));
    const display = fromCwd && !fromCwd.startsWith('..') ? fromCwd : join(root, path);
    const at = files.findIndex((file) => file.path === path);
    if (at >= 0) files[at] = { path, display, text };
    else files.push({ path, display, text });
  }
  const result = validateOrg(files, { customRules: Object.keys(guardrailRules), ignoreLock: options.ignoreLock });
  const projectRoot = options.projectRoot ? resolve(cwd, options.projectRoot) : projectRootOf(root, cwd);
  const hosting =
    result.catalog && !options.skipHostingCheck ? hostingProblems(result.catalog, files, projectRoot) : [];
  const all = [...problems, ...result.problems, ...hosting];
  return { root, problems: all, catalog: all.some((p) => p.severity === 'error') ? undefined : result.catalog };
}
