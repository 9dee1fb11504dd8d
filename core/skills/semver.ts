/**
 * Skill versions and the ranges pins may use: a narrow part of npm's semver, with npm's
 * meaning. Versions are `MAJOR.MINOR.PATCH` (no `v`, pre-release or build tags), and a range
 * is an exact version, `^x.y.z`, `~x.y.z`, `>=x.y.z`, or a bare major (`2`, `v2`, meaning
 * `^2.0.0`). Written here rather than on the `semver` package (20 KB in every Lambda bundle);
 * test/unit/semver-oracle.test.ts keeps that package as the oracle it must agree with.
 * Pure: the registry lists, this picks.
 */

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

/** A range is a span of versions: from `min`, up to but not including `end` (none for `>=`). */
export interface Range {
  /** As written, for messages and lock keys. */
  text: string;
  min: Version;
  end?: Version;
}

const NUMBER = '(0|[1-9]\\d*)';
const VERSION = new RegExp(`^${NUMBER}\\.${NUMBER}\\.${NUMBER}$`);

/** npm refuses a version, or a range bound, with a part past what a double holds exactly. */
const isSafe = (part: number) => part <= Number.MAX_SAFE_INTEGER;

/** A version as skills write it, or undefined (`v1.2.3`, `1.2`, `1.2.3-beta` and `01.2.3` are not). */
export function parseVersion(text: string): Version | undefined {
  const parts = VERSION.exec(text)?.slice(1).map(Number);
  if (!parts?.every(isSafe)) return undefined;
  const [major = 0, minor = 0, patch = 0] = parts;
  return { major, minor, patch };
}

export function isVersion(text: string): boolean {
  return parseVersion(text) !== undefined;
}

export const RANGE_HELP = 'an exact version (1.2.3), ^1.2.3, ~1.2.3, >=1.2.3, or a major version (2 or v2)';

const BARE_MAJOR = new RegExp(`^v?${NUMBER}$`);
const OPERATOR_RANGE = new RegExp(`^(\\^|>=|~|)${NUMBER}(?:\\.${NUMBER})?(?:\\.${NUMBER})?$`);
/** `^1`, `^1.2` and `>=1` fill in zeros; `~1.2` too, but not `~1` (npm reads it as ^1: write that). */
const LEAST_PARTS = { '^': 1, '>=': 1, '~': 2, '': 3 } as const;
type Operator = keyof typeof LEAST_PARTS;

/**
 * Where a range ends, as npm reads it: `^` keeps the left-most non-zero part of those written
 * (`^0.2.3` ends at 0.3.0, `^0.0.3` at 0.0.4, `^0.0` at 0.1.0, `^0` at 1.0.0), `~` keeps major and
 * minor, an exact version ends at the next patch, `>=` never ends.
 */
function rangeEnd(operator: Operator, parts: number[]): Version | undefined {
  const [major = 0, minor = 0, patch = 0] = parts;
  if (operator === '>=') return undefined;
  if (operator === '') return { major, minor, patch: patch + 1 };
  if (operator === '^' && major > 0) return { major: major + 1, minor: 0, patch: 0 };
  if (operator === '^' && parts.length === 1) return { major: 1, minor: 0, patch: 0 };
  if (operator === '^' && minor === 0 && parts.length === 3) return { major, minor, patch: patch + 1 };
  return { major, minor: minor + 1, patch: 0 };
}

/** A range in the grammar above, or undefined (`1.x`, `<2.0.0`, `~1`, `^v1.2.3` and `1.2` are not). */
export function parseRange(text: string): Range | undefined {
  const bareMajor = BARE_MAJOR.exec(text);
  const match = bareMajor ? [text, '^', bareMajor[1], '0', '0'] : OPERATOR_RANGE.exec(text);
  if (!match) return undefined;
  const operator = match[1] as Operator;
  const parts = match
    .slice(2)
    .filter((part) => part !== undefined)
    .map(Number);
  if (parts.length < LEAST_PARTS[operator] || !parts.every(isSafe)) return undefined;
  const [major = 0, minor = 0, patch = 0] = parts;
  const end = rangeEnd(operator, parts);
  // npm refuses a `^` or `~` range whose end is past MAX_SAFE_INTEGER; an exact version is `=` to npm, without one.
  if (end && operator !== '' && ![end.major, end.minor, end.patch].every(isSafe)) return undefined;
  return { text, min: { major, minor, patch }, end };
}

/** -1, 0 or 1, as a sort wants. */
export function compareVersions(a: Version, b: Version): number {
  const difference = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  return Math.sign(difference);
}

export function satisfies(version: Version, range: Range): boolean {
  return compareVersions(version, range.min) >= 0 && (!range.end || compareVersions(version, range.end) < 0);
}

/** The highest of `versions` in the range; what is not a version as skills write it is ignored. */
export function maxSatisfying(versions: string[], range: Range): string | undefined {
  let best: { text: string; version: Version } | undefined;
  for (const text of versions) {
    const version = parseVersion(text);
    if (!version || !satisfies(version, range)) continue;
    if (!best || compareVersions(version, best.version) > 0) best = { text, version };
  }
  return best?.text;
}
