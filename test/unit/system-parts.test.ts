import { describe, expect, it } from 'vitest';
import { NEEDS, PARTS, plan, type SystemPart } from '../../scripts/system-parts.ts';

/** What `npm test`, `npm run demo` and `npm run flagship` do about a missing Java, Chromium or bubblewrap, before anything starts. */

const part = (name: string, debianPackage: string): SystemPart => ({
  name,
  debianPackage,
  why: `${name}'s reason`,
  present: () => false,
});

describe('the system parts check', () => {
  it('does nothing when everything is there', () => {
    expect(plan([], { root: false, apt: true, purpose: 'npm test' })).toEqual({ action: 'none' });
  });

  it('installs the missing Debian packages as root', () => {
    expect(
      plan([part('Chromium', 'chromium'), part('bubblewrap', 'bubblewrap')], {
        root: true,
        apt: true,
        purpose: 'npm test',
      }),
    ).toEqual({
      action: 'install',
      packages: ['chromium', 'bubblewrap'],
      message:
        "installing chromium bubblewrap for npm test: Chromium (Chromium's reason), bubblewrap (bubblewrap's reason)",
    });
  });

  it('stops with the one command to run when it cannot install', () => {
    expect(
      plan([part('Java 17+', 'openjdk-17-jre-headless')], { root: false, apt: true, purpose: 'npm run demo' }),
    ).toEqual({
      action: 'stop',
      message:
        "npm run demo needs Java 17+ (Java 17+'s reason). Run:\n  sudo apt-get install -y openjdk-17-jre-headless\nthen try again.",
    });
    expect(
      plan([part('Java 17+', 'openjdk-17-jre-headless')], { root: true, apt: false, purpose: 'npm run demo' }),
    ).toMatchObject({
      action: 'stop',
      message: expect.stringContaining("install Java 17+ with your system's package manager"),
    });
  });

  it('asks the demo for Java only, the flagship for Java and bubblewrap, and the tests for all three', () => {
    expect(NEEDS.demo).toEqual(['java']);
    expect(NEEDS.flagship).toEqual(['java', 'bubblewrap']);
    expect(NEEDS.test).toEqual(['java', 'chromium', 'bubblewrap']);
    // On this machine (the CI's), every part the tests need is present by the time they run.
    for (const key of NEEDS.test!) expect([key, PARTS[key]!.present()]).toEqual([key, true]);
  });
});
