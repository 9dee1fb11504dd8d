import fc from 'fast-check';
import type { SemVer } from 'semver';
import NpmRange from 'semver/classes/range.js';
import npmCompare from 'semver/functions/compare.js';
import npmParse from 'semver/functions/parse.js';
import npmSatisfies from 'semver/functions/satisfies.js';
import npmMaxSatisfying from 'semver/ranges/max-satisfying.js';
import { describe, expect, it } from 'vitest';
import {
  compareVersions,
  isVersion,
  maxSatisfying,
  parseRange,
  parseVersion,
  satisfies,
} from '../../core/skills/semver.ts';

/**
 * core/skills/semver.ts used to check its grammar and hand npm's `semver` the meaning; the
 * package stays a devDependency as the oracle the pure module must agree with, over generated
 * versions and ranges (seeded, so a failure replays).
 */

/** The previous module's grammar and calls, verbatim but for names. */
const NUMBER = '(?:0|[1-9]\\d*)';
const OLD_VERSION = new RegExp(`^${NUMBER}\\.${NUMBER}\\.${NUMBER}$`);
const OLD_BARE_MAJOR = new RegExp(`^v?(${NUMBER})$`);
const PARTS = (min: number, max: number) => `${NUMBER}(?:\\.${NUMBER}){${min},${max}}`;
const OLD_OPERATOR_RANGE = new RegExp(`^(?:\\^${PARTS(0, 2)}|>=${PARTS(0, 2)}|~${PARTS(1, 2)}|${PARTS(2, 2)})$`);

function npmVersion(text: string): SemVer | undefined {
  if (!OLD_VERSION.test(text)) return undefined;
  return npmParse(text) ?? undefined;
}

function npmRange(text: string): NpmRange | undefined {
  const major = OLD_BARE_MAJOR.exec(text);
  const npm = major ? `^${major[1]}.0.0` : OLD_OPERATOR_RANGE.test(text) ? text : undefined;
  if (npm === undefined) return undefined;
  try {
    return new NpmRange(npm);
  } catch {
    return undefined;
  }
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
/** Parts near 0, ordinary ones, ones around Number.MAX_SAFE_INTEGER, and parts npm or the grammar refuse. */
const part = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('0', '1', '2', '3', '9', '10', '11') },
  { weight: 2, arbitrary: fc.nat(100_000).map(String) },
  { weight: 2, arbitrary: fc.constantFrom(...[MAX - 1n, MAX, MAX + 1n, MAX + 2n, 10n ** 20n].map(String)) },
  { weight: 1, arbitrary: fc.constantFrom('01', '00', '', 'x', '*', '1e3', '-1', '+1', ' 1', '\u0663', '0x1') },
);
const parts = fc.array(part, { minLength: 1, maxLength: 4 }).map((p) => p.join('.'));
/** Mostly as written, sometimes with what neither grammar takes around it. */
const usually = (usual: string[], odd: string[]) =>
  fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...usual) }, { weight: 1, arbitrary: fc.constantFrom(...odd) });
const versionText = fc
  .tuple(usually([''], ['v', '=', ' ']), parts, usually([''], ['-beta', '+build', ' ', '.']))
  .map((p) => p.join(''));
const rangeText = fc
  .tuple(
    usually(['', '^', '~', '>=', 'v'], ['>', '<', '<=', '=', '~>', '^v', ' ^', '^ ', 'x']),
    parts,
    usually([''], ['-0', ' ', '.x', ' <3.0.0']),
  )
  .map((p) => p.join(''));

/** Versions on and around every number in a range (one less, one more, 0 and 1 in each place). */
function versionsAround(range: string): string[] {
  const numbers = (range.match(/\d+/g) ?? []).map(BigInt);
  const near = [0n, 1n, ...numbers.flatMap((n) => [n - 1n, n, n + 1n])].filter((n) => n >= 0n);
  const choices = [...new Set(near.map(String))].slice(0, 7);
  return choices.flatMap((major) => choices.flatMap((minor) => choices.map((patch) => `${major}.${minor}.${patch}`)));
}

describe('skill semver against npm semver (the package it replaced)', () => {
  it('parses the versions npm parses, as npm does, and refuses the others', () => {
    fc.assert(
      fc.property(versionText, (text) => {
        const expected = npmVersion(text);
        const parsed = parseVersion(text);
        expect(parsed && [parsed.major, parsed.minor, parsed.patch], text).toEqual(
          expected && [expected.major, expected.minor, expected.patch],
        );
        expect(isVersion(text), text).toBe(expected !== undefined);
      }),
      { seed: 22, numRuns: 5000 },
    );
  });

  it('orders versions as npm does', () => {
    fc.assert(
      fc.property(versionText, versionText, (a, b) => {
        const [x, y] = [npmVersion(a), npmVersion(b)];
        if (!x || !y) return;
        expect(compareVersions(parseVersion(a)!, parseVersion(b)!), `${a} vs ${b}`).toBe(npmCompare(x, y));
      }),
      { seed: 22, numRuns: 5000 },
    );
  });

  it('reads ranges as npm does: the same ones refused, the same versions in, the same highest', () => {
    let accepted = 0;
    let inRange = 0;
    fc.assert(
      fc.property(rangeText, fc.array(versionText, { maxLength: 5 }), (text, extra) => {
        const expected = npmRange(text);
        const range = parseRange(text);
        expect(range !== undefined, text).toBe(expected !== undefined);
        if (!range || !expected) return;
        accepted += 1;
        const versions = [...versionsAround(text), ...extra];
        for (const version of versions) {
          const npmParsed = npmVersion(version);
          if (!npmParsed) continue;
          const wanted = npmSatisfies(npmParsed, expected);
          expect(satisfies(parseVersion(version)!, range), `${version} in ${text}`).toBe(wanted);
          if (wanted) inRange += 1;
        }
        const listed = versions.filter((_, index) => index % 3 === 0);
        const npmListed = listed.filter((version) => npmVersion(version) !== undefined);
        expect(maxSatisfying(listed, range), `highest of ${listed.join(' ')} in ${text}`).toBe(
          npmMaxSatisfying(npmListed, expected) ?? undefined,
        );
      }),
      { seed: 22, numRuns: 5000 },
    );
    // The comparison means something only if many ranges parse and both answers occur often.
    expect(accepted).toBeGreaterThan(1000);
    expect(inRange).toBeGreaterThan(10_000);
  });

  it('agrees on the carets, tildes and bounds where npm is subtle', () => {
    const big = String(Number.MAX_SAFE_INTEGER);
    const ranges = [
      '^0',
      '^0.0',
      '^0.0.0',
      '^0.1',
      '^0.0.1',
      '^0.1.0',
      '~0',
      '~0.0',
      '~0.0.0',
      '~1.2',
      '>=0',
      'v0',
      '0',
    ];
    const edges = [`^${big}.0.0`, `^0.${big}.0`, `^0.0.${big}`, `~1.${big}`, `~${big}.0.0`, `>=${big}`, `${big}.0.0`];
    const exact = [`0.0.${big}`, `1.${big}.0`, `^1.${big}.${big}`, `>=0.0.${big}`, `~0.0.${big}`, `^1.2.${big}`];
    for (const text of [...ranges, ...edges, ...exact]) {
      const expected = npmRange(text);
      const range = parseRange(text);
      expect(range !== undefined, text).toBe(expected !== undefined);
      if (!range || !expected) continue;
      for (const version of versionsAround(text).filter((v) => npmVersion(v))) {
        expect(satisfies(parseVersion(version)!, range), `${version} in ${text}`).toBe(
          npmSatisfies(npmVersion(version)!, expected),
        );
      }
    }
  });
});
