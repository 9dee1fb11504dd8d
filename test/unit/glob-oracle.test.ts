import fc from 'fast-check';
import picomatch from 'picomatch/posix.js';
import { describe, expect, it } from 'vitest';
import { globMatches } from '../../core/policy/glob.ts';

/**
 * core/policy/glob.ts used to be picomatch in bash mode with every glob character but `*`
 * escaped; picomatch stays a devDependency as the oracle the pure matcher must agree with,
 * over generated patterns and values (seeded, so a failure replays).
 */

const oracleMatchers = new Map<string, (value: string) => boolean>();

/** The previous globMatches, verbatim but for the cache. */
function picomatchGlob(pattern: string, value: string, caseInsensitive: boolean): boolean {
  if (!pattern.includes('*')) {
    return caseInsensitive ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  const key = `${caseInsensitive ? 'i' : 's'}:${pattern}`;
  let matcher = oracleMatchers.get(key);
  if (!matcher) {
    const glob = pattern.replace(/[\\?[\]{}()!+@|^$.,]/g, '\\$&').replace(/\*+/g, '*');
    matcher = picomatch(glob, { bash: true, dot: true, nocase: caseInsensitive, windows: false });
    oracleMatchers.set(key, matcher);
  }
  return matcher(value);
}

/** Every glob character picomatch knows but `*` (each escaped), path parts, case, and plain punctuation. */
const SPECIAL = ['?', '[', ']', '{', '}', '(', ')', '!', '+', '@', '|', '^', '$', '.', ','];
const PATTERN_PARTS = [
  ...SPECIAL,
  ...['a', 'B', 'x', 'X', '1', '_', '-', ' ', '#', '~', ':', '%', "'", '=', 'é', 'É'],
  ...['/', '.', '..', '/.', '/..', './', '../', '[bot]', '{a,b}', '!(x)', '+(y)', '@(z)', 'a|b', 'bug?'],
  ...['*', '*', '*', '**', '***', '*/*', '**/**', '/*', '*/'],
];
const pattern = fc.array(fc.constantFrom(...PATTERN_PARTS), { minLength: 1, maxLength: 7 }).map((p) => p.join(''));

/** What a `*` may stand for, dot segments and line breaks included. */
const STAR_FILLS = [
  '',
  'a',
  'Bx',
  '/',
  '.',
  '..',
  '/.',
  '/..',
  './',
  '../',
  '/./',
  '/../',
  'x/..',
  'y/.',
  '\n',
  '*',
  '/a/',
];
const VALUE_CHARS = ['a', 'A', 'b', 'B', 'x', 'X', '1', '/', '.', '-', '_', '*', '\\', '\n', 'é', 'É', ...SPECIAL];
const randomValue = fc.array(fc.constantFrom(...VALUE_CHARS), { maxLength: 8 }).map((chars) => chars.join(''));

/** A value the pattern likely matches: each run of `*` filled in, its case perhaps flipped. */
function filledIn(glob: string, fills: string[], flipCase: boolean): string {
  let index = 0;
  const value = glob.replace(/\*+/g, () => fills[index++ % fills.length] ?? '');
  return flipCase ? [...value].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('') : value;
}

const EDGE_VALUES = ['', '.', '..', '/', '//', './', '../', '/.', '/..', './x', '../x', '/./x', '/../x', 'x/./y'];

describe('globMatches against picomatch (the package it replaced)', () => {
  it('agrees on generated patterns and values: slashes, dot segments, case, escaped glob characters', () => {
    let matched = 0;
    fc.assert(
      fc.property(
        pattern,
        fc.array(fc.constantFrom(...STAR_FILLS), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.array(randomValue, { maxLength: 4 }),
        fc.boolean(),
        (glob, fills, flipCase, randomValues, caseInsensitive) => {
          const values = [filledIn(glob, fills, flipCase), filledIn(glob, fills, false), ...randomValues];
          for (const value of [...values, ...EDGE_VALUES]) {
            const expected = picomatchGlob(glob, value, caseInsensitive);
            expect(
              globMatches(glob, value, { caseInsensitive }),
              `${JSON.stringify(glob)} ~ ${JSON.stringify(value)}`,
            ).toBe(expected);
            if (expected) matched += 1;
          }
        },
      ),
      { seed: 22, numRuns: 10_000 },
    );
    // The comparison means something only if both answers occur often.
    expect(matched).toBeGreaterThan(10_000);
  });

  it('agrees on the patterns looprail documents, against values around their edges', () => {
    const patterns = ['*', '**', '*/*', 'github.*', '*.delete_*', 'release/*', '*@example.com', 'local:*', 'v1.*'];
    const values = ['github.merge_pr', 'a.delete_b', 'release/1.2', 'release/', 'noor@example.com', 'local:', 'v1.x'];
    for (const glob of patterns) {
      for (const value of [...values, ...EDGE_VALUES, ...values.map((v) => `${v}/../x`), '.github', 'a/.b']) {
        for (const caseInsensitive of [false, true]) {
          expect(globMatches(glob, value, { caseInsensitive }), `${glob} ~ ${value}`).toBe(
            picomatchGlob(glob, value, caseInsensitive),
          );
        }
      }
    }
  });

  it('reads `"` and `\\` as themselves, where picomatch quoted and unescaped (the two depart only there)', () => {
    // picomatch dropped a `"` that opens a token and read a quoted `*` literally; it collapsed
    // backslash runs and read a `\` before `.` as a backslash then any character.
    const cases: Array<[glob: string, value: string, matches: boolean]> = [
      ['"*', '"x', true],
      ['"*', '*', false],
      ['a*"b"', 'ax"b"', true],
      ['a*"b"', 'axb', false],
      ['a\\\\*', 'a\\x', false],
      ['\\.*', '\\xx', false],
    ];
    for (const [glob, value, matches] of cases) {
      expect(globMatches(glob, value), `${glob} ~ ${value}`).toBe(matches);
      expect(picomatchGlob(glob, value, false), `picomatch: ${glob} ~ ${value}`).toBe(!matches);
    }
    // picomatch never returned on a pattern with a `*` ending in two backslashes (its parser looped).
    expect(globMatches('*\\\\', 'x\\\\')).toBe(true);
    expect(globMatches('*\\\\', 'x\\')).toBe(false);
  });
});
