import type { SemVer } from 'semver';
// The parts used, each from its own file: `semver`'s index requires all of the package (about 28 KB in every Lambda bundle).
import NpmRange from 'semver/classes/range.js';
import compare from 'semver/functions/compare.js';
import parse from 'semver/functions/parse.js';
import inNpmRange from 'semver/functions/satisfies.js';
import highestIn from 'semver/ranges/max-satisfying.js';

/**
 * Skill versions and the ranges pins may use, on npm's own `semver` package. What a skill
 * may say is narrower than npm: versions are `MAJOR.MINOR.PATCH` (no `v`, pre-release or
 * build tags), and a range is an exact version, `^x.y.z`, `~x.y.z`, `>=x.y.z`, or a bare
 * major (`2`, `v2`, meaning `^2.0.0`). This module checks that grammar and hands npm the
 * meaning. Pure: the registry lists, this picks.
 */

export type Version = SemVer;

export interface Range {
  /** As written, for messages and lock keys. */
  text: string;
  /** The same range as npm reads it (`v2` becomes `^2.0.0`). */
  npm: NpmRange;
}

const NUMBER = '(?:0|[1-9]\\d*)';
const VERSION = new RegExp(`^${NUMBER}\\.${NUMBER}\\.${NUMBER}$`);

/** A version as skills write it, or undefined (`v1.2.3`, `1.2`, `1.2.3-beta` and `01.2.3` are not). */
export function parseVersion(text: string): Version | undefined {
  if (!VERSION.test(text)) return undefined;
  // null when a part is past Number.MAX_SAFE_INTEGER.
  return parse(text) ?? undefined;
}

export function isVersion(text: string): boolean {
  return parseVersion(text) !== undefined;
}

export const RANGE_HELP = 'an exact version (1.2.3), ^1.2.3, ~1.2.3, >=1.2.3, or a major version (2 or v2)';

const BARE_MAJOR = new RegExp(`^v?(${NUMBER})$`);
/** `^1`, `^1.2` and `>=1` fill in zeros; `~1.2` too, but not `~1` (npm reads it as ^1: write that). */
const PARTS = (min: number, max: number) => `${NUMBER}(?:\\.${NUMBER}){${min},${max}}`;
const OPERATOR_RANGE = new RegExp(`^(?:\\^${PARTS(0, 2)}|>=${PARTS(0, 2)}|~${PARTS(1, 2)}|${PARTS(2, 2)})$`);

/** A range in the grammar above, or undefined (`1.x`, `<2.0.0`, `~1`, `^v1.2.3` and `1.2` are not). */
export function parseRange(text: string): Range | undefined {
  const major = BARE_MAJOR.exec(text);
  const npm = major ? `^${major[1]}.0.0` : OPERATOR_RANGE.test(text) ? text : undefined;
  if (npm === undefined) return undefined;
  try {
    return { text, npm: new NpmRange(npm) };
  } catch {
    // A number past what npm accepts.
    return undefined;
  }
}

export function compareVersions(a: Version, b: Version): number {
  return compare(a, b);
}

/** npm's meaning: `^` keeps the left-most non-zero part, `~` keeps major and minor. */
export function satisfies(version: Version, range: Range): boolean {
  return inNpmRange(version, range.npm);
}

/** The highest of `versions` in the range; what is not a version as skills write it is ignored. */
export function maxSatisfying(versions: string[], range: Range): string | undefined {
  return highestIn(versions.filter(isVersion), range.npm) ?? undefined;
}
