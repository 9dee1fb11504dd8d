/**
 * The one glob matcher for patterns in the org's YAML: tool patterns and grant allow/deny
 * lists (`github.*`, `*.delete_*`), webhook filters (`release/*`) and skill owners
 * (`*@example.com`). `*` is the only wildcard and matches any run of characters, `/` and `.`
 * included; every other character means itself, so a sender `dependabot[bot]` or a label
 * `bug?` is matched as written. Runs of `*` read as one (no `**` globstar).
 *
 * It replaced picomatch in bash mode with every other glob character escaped, and keeps its
 * meaning (test/unit/glob-oracle.test.ts compares the two) but for `"` and `\`, which picomatch
 * still read as quotes and escapes. So it keeps picomatch's exceptions for `.` and `..` segments:
 * - A pattern `*`, or `*` then `/` then `*`, never matches a value that starts with a `.` or `..`
 *   segment (`.`, `..`, `./x`, `/../x`), nor the second one a value whose part after the `/` it
 *   matched starts so; a `*` alone never matches an empty value either. No tool, branch, label
 *   or principal is named so.
 * - In a pattern that starts with a character other than `*` and has no `/`, bracket, brace or
 *   parenthesis, a `*` does not run across a `/.` or `/..` segment (`v*` does not match `v/../x`).
 * Like picomatch, a `*` does not match a line break.
 */

export interface GlobOptions {
  caseInsensitive?: boolean;
}

/** Patterns come from the org's YAML, so there are few: each is compiled once. */
const compiled = new Map<string, RegExp>();

/** A `.` or `..` path segment: `.`, `..`, `./…`, `../…`. */
const DOT_SEGMENT = '\\.{1,2}(?:\\/|$)';
/** Two whole patterns (runs of `*` read as one) that picomatch matched its own way. */
const WHOLE_PATTERNS = new Map([
  ['*', `(?!\\/?${DOT_SEGMENT}).+`],
  ['*/*', `(?!\\/?${DOT_SEGMENT}).*\\/(?!${DOT_SEGMENT}).+`],
]);
const STAR = '.*';
/** A `*` that never takes the `/` opening a `.` or `..` segment. */
const STAR_BEFORE_DOT_SEGMENTS = `(?:(?!\\/${DOT_SEGMENT}).)*`;
/** The patterns picomatch's fast path took, whose `*` keeps out of dot segments. */
const PLAIN_PATTERN = /^(?!\*)[^/()[\]{}]*$/;

function toRegExp(pattern: string, caseInsensitive: boolean): RegExp {
  const glob = pattern.replace(/\*+/g, '*');
  const star = PLAIN_PATTERN.test(glob) ? STAR_BEFORE_DOT_SEGMENTS : STAR;
  const source = WHOLE_PATTERNS.get(glob) ?? glob.split('*').map(escapeRegExp).join(star);
  return new RegExp(`^(?:${source})$`, caseInsensitive ? 'i' : '');
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** Does `value` match `pattern`, where `*` matches any run of characters and the rest is literal? */
export function globMatches(pattern: string, value: string, options: GlobOptions = {}): boolean {
  const caseInsensitive = options.caseInsensitive === true;
  if (!pattern.includes('*')) {
    return caseInsensitive ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  const key = `${caseInsensitive ? 'i' : 's'}:${pattern}`;
  let regExp = compiled.get(key);
  if (!regExp) {
    regExp = toRegExp(pattern, caseInsensitive);
    compiled.set(key, regExp);
  }
  return regExp.test(value);
}
