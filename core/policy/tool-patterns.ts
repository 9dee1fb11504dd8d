/**
 * Tool patterns, as written in grants and approval rules: `merge_pr` (any server),
 * `github.merge_pr`, and `*` wildcards on either side (`github.*`, `*.delete_*`).
 */

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${escaped}$`);
}

export function matchesGlob(glob: string, name: string): boolean {
  return globToRegExp(glob).test(name);
}

export function matchesToolPattern(pattern: string, server: string, tool: string): boolean {
  const dot = pattern.indexOf('.');
  if (dot < 0) return matchesGlob(pattern, tool);
  return matchesGlob(pattern.slice(0, dot), server) && matchesGlob(pattern.slice(dot + 1), tool);
}
