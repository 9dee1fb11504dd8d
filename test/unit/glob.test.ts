import { describe, expect, it } from 'vitest';
import { globMatches } from '../../core/policy/glob.ts';

/** The org's YAML globs: `*` matches any run of characters, `/` and `.` included; the rest is literal. */
describe('globMatches', () => {
  it('matches tool patterns, branch filters and principals as documented', () => {
    expect(globMatches('delete_*', 'delete_repo')).toBe(true);
    expect(globMatches('delete_*', 'delete_')).toBe(true);
    expect(globMatches('*_pr', 'merge_pr')).toBe(true);
    expect(globMatches('*', '.github')).toBe(true);
    expect(globMatches('release/*', 'release/1.2')).toBe(true);
    expect(globMatches('release/*', 'release/1.2/hotfix')).toBe(true);
    expect(globMatches('feat-*', 'feat-a/b')).toBe(true);
    expect(globMatches('release/*', 'main')).toBe(false);
    expect(globMatches('arn:aws:iam::*:role/publisher', 'arn:aws:iam::123456789012:role/publisher')).toBe(true);
  });

  it('reads every other glob character literally, and ** as *', () => {
    expect(globMatches('dependabot[bot]', 'dependabot[bot]')).toBe(true);
    expect(globMatches('dependabot[bot]*', 'dependabot[bot]-x')).toBe(true);
    expect(globMatches('dependabot[bot]*', 'dependabotb')).toBe(false);
    expect(globMatches('bug?*', 'bug?!')).toBe(true);
    expect(globMatches('bug?*', 'bugs')).toBe(false);
    expect(globMatches('{a,b}*', 'a')).toBe(false);
    expect(globMatches('!x*', 'y')).toBe(false);
    expect(globMatches('v1.*', 'v1x2')).toBe(false);
    expect(globMatches('a/**/b', 'a/b')).toBe(false);
    expect(globMatches('a/**/b', 'a/x/y/b')).toBe(true);
  });

  it('folds case only when asked', () => {
    expect(globMatches('acme/*', 'ACME/shop')).toBe(false);
    expect(globMatches('acme/*', 'ACME/shop', { caseInsensitive: true })).toBe(true);
    expect(globMatches('acme/shop', 'ACME/Shop', { caseInsensitive: true })).toBe(true);
  });
});
