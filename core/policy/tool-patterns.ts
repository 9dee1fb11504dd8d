import { globMatches } from './glob.ts';

/**
 * Tool patterns, as written in grants and approval rules: `merge_pr` (any server),
 * `github.merge_pr`, and `*` wildcards on either side (`github.*`, `*.delete_*`).
 */

export function matchesToolPattern(pattern: string, server: string, tool: string): boolean {
  const dot = pattern.indexOf('.');
  if (dot < 0) return globMatches(pattern, tool);
  return globMatches(pattern.slice(0, dot), server) && globMatches(pattern.slice(dot + 1), tool);
}
