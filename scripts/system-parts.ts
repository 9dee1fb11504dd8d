import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * What the demo and the tests need from the machine beyond Node and npm, checked before they
 * start, and installed with Debian's apt-get when this runs as root: Java 17+ for DynamoDB
 * Local (demo and tests), Debian's Chromium for the pages a person clicks, and bubblewrap for
 * run sandboxes (tests). Not root: it names the one command to run and exits 1 before
 * anything starts, instead of tests failing one by one. `npm run demo`, `npm run flagship`
 * (Java and bubblewrap: the ci-fixer loop tests its fix in a sandbox) and `npm test` run it
 * first (package.json `predemo`, `preflagship`, `pretest`).
 */

export interface SystemPart {
  name: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  why: string;
  present(): boolean;
}

const javaMajor = (): number => {
  const run = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const match = /version "(\d+)/.exec(`${run.stderr ?? ''}${run.stdout ?? ''}`);
  return match ? Number(match[1]) : 0;
};
const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

export const PARTS: Record<string, SystemPart> = {
  java: {
    name: 'Java 17+',
    debianPackage: 'openjdk-17-jre-headless',
    why: 'DynamoDB Local, the local database',
    present: () => javaMajor() >= 17,
  },
  chromium: {
    name: 'Chromium',
    debianPackage: 'chromium',
    why: 'the approval and console pages, clicked through in a browser',
    present: () => existsSync('/usr/bin/chromium'),
  },
  bubblewrap: {
    name: 'bubblewrap',
    debianPackage: 'bubblewrap',
    why: 'run sandboxes',
    present: () => onPath('bwrap'),
  },
};

export const NEEDS: Record<string, readonly string[]> = {
  demo: ['java'],
  flagship: ['java', 'bubblewrap'],
  test: ['java', 'chromium', 'bubblewrap'],
};

export type Plan =
  | { action: 'none' }
  | { action: 'install'; packages: string[]; message: string }
  | { action: 'stop'; message: string };

/** What to do about the parts `purpose` needs that are missing, as whom, on a machine with or without apt-get. */
export function plan(missing: SystemPart[], options: { root: boolean; apt: boolean; purpose: string }): Plan {
  if (missing.length === 0) return { action: 'none' };
  const packages = missing.map((part) => part.debianPackage);
  const list = missing.map((part) => `${part.name} (${part.why})`).join(', ');
  if (options.root && options.apt)
    return { action: 'install', packages, message: `installing ${packages.join(' ')} for ${options.purpose}: ${list}` };
  const command = options.apt
    ? `sudo apt-get install -y ${packages.join(' ')}`
    : `install ${missing.map((part) => part.name).join(', ')} with your system's package manager`;
  return { action: 'stop', message: `${options.purpose} needs ${list}. Run:\n  ${command}\nthen try again.` };
}

function main(purpose: string): number {
  const needed = NEEDS[purpose];
  if (!needed) {
    console.error(`system-parts: unknown purpose "${purpose}" (expected ${Object.keys(NEEDS).join(' or ')})`);
    return 1;
  }
  const missing = needed.map((key) => PARTS[key]!).filter((part) => !part.present());
  const decided = plan(missing, {
    root: process.getuid?.() === 0,
    apt: onPath('apt-get'),
    purpose: `npm run ${purpose}`,
  });
  if (decided.action === 'none') return 0;
  if (decided.action === 'stop') {
    console.error(decided.message);
    return 1;
  }
  console.error(decided.message);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...decided.packages], { stdio: 'inherit', env });
  const still = needed.map((key) => PARTS[key]!).filter((part) => !part.present());
  if (still.length > 0) {
    console.error(`still missing after apt-get: ${still.map((part) => part.name).join(', ')}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) process.exitCode = main(process.argv[2] ?? 'test');
