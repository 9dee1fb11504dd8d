import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { formatProblem } from '../../core/definitions/problems.ts';
import { validateOrg } from '../../core/definitions/validate.ts';

/** An org folder's YAML and Markdown files by their path in it, so a test can override a file or two before validating. */
export function orgFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (current: string) => {
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ya?ml|md)$/.test(name)) files.set(relative(dir, path), readFileSync(path, 'utf8'));
    }
  };
  walk(dir);
  return files;
}

/** The errors `looprail validate` gives for an org with some files replaced, each as file:line:column: field: message. */
export function orgErrors(org: Map<string, string>, overrides: Record<string, string>): string[] {
  const files = new Map([...org, ...Object.entries(overrides)]);
  return validateOrg([...files].map(([path, text]) => ({ path, display: path, text })))
    .problems.filter((problem) => problem.severity === 'error')
    .map(formatProblem);
}
