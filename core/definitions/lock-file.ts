import * as z from './zod.ts';
import type { Catalog } from './catalog.ts';
import { SkillLockEntry } from './skills.ts';

/** `looprail.lock.yaml`: the content hash each versioned instructions file had when its version was locked. */
export const LOCK_FILE = 'looprail.lock.yaml';

export const LockFile = z.strictObject({
  instructions: z
    ._default(
      z.record(
        z.string().check(z.regex(/^[^@]+@[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected path@version')),
        z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256: and 64 hex digits')),
      ),
      {},
    )
    .check(
      z.describe(
        'Each versioned instructions file (path@version) and the hash of its content when locked: a file changed without a new version fails validate.',
      ),
    ),
  skills: z
    ._default(z.record(z.string().check(z.regex(/^[a-z][a-z0-9-]*@.+$/, 'expected name@range')), SkillLockEntry), {})
    .check(z.describe('Each skill pin (name@range) and the registry version it resolved to when locked.')),
});
export type LockFile = z.infer<typeof LockFile>;

/** The lock key of a versioned file: its path in the org folder and its version. */
export function lockKey(resolvedPath: string, version: string): string {
  return `${resolvedPath}@${version}`;
}

/** The lock key of a skill pin: the skill's name and the range as written. */
export function skillLockKey(name: string, range: string): string {
  return `${name}@${range}`;
}

/** What `looprail lock` records: every versioned instructions file the agents use, with its hash. */
export function lockEntries(catalog: Catalog): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const agent of Object.values(catalog.agents)) {
    for (const doc of [agent.instructions, ...Object.values(agent.subagentInstructions)]) {
      if (doc.file) entries[lockKey(doc.file, doc.version)] = `sha256:${doc.sha256}`;
    }
  }
  return entries;
}
