/**
 * The part of semver that skill pins need: versions `MAJOR.MINOR.PATCH` (no pre-release
 * or build tags), and ranges that are an exact version, `^x.y.z`, `~x.y.z`, `>=x.y.z`,
 * or a bare major (`2`, `v2`, meaning `^2.0.0`). Pure: the registry lists, this picks.
 */

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

export interface Range {
  kind: 'exact' | 'caret' | 'tilde' | 'gte';
  base: Version;
  /** As written, for messages and lock keys. */
  text: string;
}

const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

export function parseVersion(text: string): Version | undefined {
  const match = VERSION.exec(text);
  if (!match) return undefined;
  const [major, minor, patch] = match.slice(1).map(Number) as [number, number, number];
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined;
  return { major, minor, patch };
}

export function isVersion(text: string): boolean {
  return parseVersion(text) !== undefined;
}

export function formatVersion(version: Version): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}

export const RANGE_HELP = 'an exact version (1.2.3), ^1.2.3, ~1.2.3, >=1.2.3, or a major version (2 or v2)';

const NUMBER = '(0|[1-9]\\d*)';
/** `^1`, `^1.2` and `>=1` fill in zeros; `~1.2` too, but not `~1` (npm reads it as ^1: write that). */
const PARTIAL: Record<string, RegExp> = {
  '^': new RegExp(`^${NUMBER}(?:\\.${NUMBER}(?:\\.${NUMBER})?)?$`),
  '>=': new RegExp(`^${NUMBER}(?:\\.${NUMBER}(?:\\.${NUMBER})?)?$`),
  '~': new RegExp(`^${NUMBER}\\.${NUMBER}(?:\\.${NUMBER})?$`),
};

export function parseRange(text: string): Range | undefined {
  const major = /^v?(0|[1-9]\d*)$/.exec(text);
  if (major) return { kind: 'caret', base: { major: Number(major[1]), minor: 0, patch: 0 }, text };
  const match = /^(\^|~|>=)?(.+)$/.exec(text);
  if (!match) return undefined;
  const operator = match[1];
  if (operator === undefined) {
    const base = parseVersion(match[2]!);
    return base ? { kind: 'exact', base, text } : undefined;
  }
  const parts = PARTIAL[operator]!.exec(match[2]!);
  if (!parts) return undefined;
  const [majorPart, minor, patch] = parts.slice(1, 4).map((part) => Number(part ?? 0)) as [number, number, number];
  const kind = operator === '^' ? 'caret' : operator === '~' ? 'tilde' : 'gte';
  return { kind, base: { major: majorPart, minor, patch }, text };
}

export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** npm's meaning: `^` keeps the left-most non-zero part, `~` keeps major and minor. */
export function satisfies(version: Version, range: Range): boolean {
  const { base } = range;
  if (compareVersions(version, base) < 0) return false;
  switch (range.kind) {
    case 'exact':
      return compareVersions(version, base) === 0;
    case 'gte':
      return true;
    case 'tilde':
      return version.major === base.major && version.minor === base.minor;
    case 'caret':
      if (base.major > 0) return version.major === base.major;
      if (base.minor > 0) return version.major === 0 && version.minor === base.minor;
      return version.major === 0 && version.minor === 0 && version.patch === base.patch;
  }
}

/** The highest of `versions` in the range; unparseable versions are ignored. */
export function maxSatisfying(versions: string[], range: Range): string | undefined {
  let best: Version | undefined;
  for (const text of versions) {
    const version = parseVersion(text);
    if (version && satisfies(version, range) && (!best || compareVersions(version, best) > 0)) best = version;
  }
  return best ? formatVersion(best) : undefined;
}
