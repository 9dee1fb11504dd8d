import picomatch from 'picomatch/posix.js';

/**
 * The one glob matcher for patterns in the org's YAML: tool patterns and grant allow/deny
 * lists (`github.*`, `*.delete_*`), webhook filters (`release/*`) and skill owners
 * (`*@example.com`). `*` is the only wildcard and matches any run of characters, `/` and `.`
 * included; every other character means itself, so a sender `dependabot[bot]` or a label
 * `bug?` is matched as written.
 *
 * picomatch, in bash mode (a `*` crosses `/`), with every other glob character escaped and
 * runs of `*` read as one (no `**` globstar). Unlike a plain `.*`, a `*` standing alone
 * never matches an empty value, `.` or `..`: no tool, branch, label or principal is named so.
 */

export interface GlobOptions {
  caseInsensitive?: boolean;
}

type Matcher = (value: string) => boolean;

/** Patterns come from the org's YAML, so there are few: each is compiled once. */
const compiled = new Map<string, Matcher>();

/** Glob syntax other than `*` (classes, braces, extglobs, negation, escapes), made literal. */
const SPECIAL = /[\\?[\]{}()!+@|^$.,]/g;

function compile(pattern: string, caseInsensitive: boolean): Matcher {
  const key = `${caseInsensitive ? 'i' : 's'}:${pattern}`;
  let matcher = compiled.get(key);
  if (!matcher) {
    const glob = pattern.replace(SPECIAL, '\\$&').replace(/\*+/g, '*');
    matcher = picomatch(glob, { bash: true, dot: true, nocase: caseInsensitive, windows: false });
    compiled.set(key, matcher);
  }
  return matcher;
}

/** Does `value` match `pattern`, where `*` matches any run of characters and the rest is literal? */
export function globMatches(pattern: string, value: string, options: GlobOptions = {}): boolean {
  const caseInsensitive = options.caseInsensitive === true;
  if (!pattern.includes('*')) {
    return caseInsensitive ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  return compile(pattern, caseInsensitive)(value);
}
