import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The project an org folder belongs to: the nearest folder at or above it with a package.json.
 * Servers' commands (node_modules/.bin), their relative paths and `cwd`s resolve from here, as
 * the stack bundles them, so an org runs the same from any working directory (`--org .` from
 * inside it included). Without a package.json above it, the current directory, as before.
 */
export function projectRootOf(orgDir: string, cwd = process.cwd()): string {
  for (let dir = resolve(cwd, orgDir); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(cwd);
  }
}
