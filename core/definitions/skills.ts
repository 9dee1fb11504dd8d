import { Name } from './primitives.ts';
import { isVersion, parseRange, RANGE_HELP } from '../skills/semver.ts';
import * as z from './zod.ts';

/**
 * The skills registry's shapes: a skill's front matter, one published (immutable)
 * version as stored, the org's publishing policy (`skills.yaml`), and what
 * `looprail lock` records for each pin.
 */

export const SkillVersion = z
  .pipe(z.union([z.string(), z.number()], { error: 'expected a semantic version such as 1.2.0' }), z.transform(String))
  .check(z.refine(isVersion, 'expected a semantic version MAJOR.MINOR.PATCH, such as 1.2.0'));

export const SkillRange = z
  .string()
  .check(z.refine((text) => parseRange(text) !== undefined, `expected ${RANGE_HELP}`));

export const SkillFrontMatter = z.strictObject({
  name: Name.check(z.describe("The skill's name: its folder's name.")),
  description: z
    .string()
    .check(
      z.minLength(1, 'expected a one-line description'),
      z.describe('One line: the model sees it and decides whether to load the skill.'),
    ),
  version: SkillVersion.check(
    z.describe('A semantic version, MAJOR.MINOR.PATCH such as 1.2.0; a published version never changes.'),
  ),
});
export type SkillFrontMatter = z.infer<typeof SkillFrontMatter>;

/** A path inside a skill folder: relative, `/`-separated, never climbing out. */
export const SkillFilePath = z.string().check(
  z.minLength(1),
  z.maxLength(300),
  z.refine(
    (path) => !path.startsWith('/') && !path.split('/').some((part) => part === '' || part === '.' || part === '..'),
    'expected a relative path inside the skill folder',
  ),
);

export const SkillFile = z.strictObject({
  path: SkillFilePath,
  content: z.string(),
  /** Of the content's UTF-8 bytes, hex. */
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
});
export type SkillFile = z.infer<typeof SkillFile>;

/** `SKILL#name / V#version`: written once, never overwritten. */
export const SkillRecord = z.strictObject({
  name: Name,
  version: SkillVersion,
  description: z.string().check(z.minLength(1)),
  files: z.array(SkillFile).check(z.minLength(1)),
  /** Of the whole version: every file's path and hash (core/skills/bundle.ts). */
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  /** Who published it (the principal), and when. */
  publisher: z.string().check(z.minLength(1)),
  publishedAt: z.string().check(z.minLength(1)),
});
export type SkillRecord = z.infer<typeof SkillRecord>;

/** A principal pattern: exact (`noor@example.com`) or with `*` wildcards (`local:*`). */
const PrincipalPattern = z.string().check(z.minLength(1, 'expected a principal, e.g. noor@example.com or local:*'));

/** `skills.yaml` in the org folder: who may publish which skill. A skill not listed may not be published. */
export const SkillsPolicyFile = z.strictObject(
  {
    skills: z
      .record(
        Name,
        z.strictObject({
          owners: z
            .array(PrincipalPattern)
            .check(
              z.minLength(1, 'expected at least one owner'),
              z.describe('Principals allowed to publish new versions, exact (noor@example.com) or with * (local:*).'),
            ),
          team: z.optional(Name).check(z.describe('The team that owns it, shown in the inventory.')),
        }),
      )
      .check(z.describe('Who may publish which skill, by skill name; a skill not listed may not be published.')),
  },
  { error: 'expected a mapping with `skills:` (skill name → owners)' },
);
export type SkillsPolicyFile = z.infer<typeof SkillsPolicyFile>;

/** One resolved pin in `looprail.lock.yaml` (`skills: { "name@range": { version, sha256 } }`). */
export const SkillLockEntry = z.strictObject({
  version: SkillVersion.check(z.describe('The registry version the pin resolved to.')),
  sha256: z
    .string()
    .check(
      z.regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256: and 64 hex digits'),
      z.describe("The hash of that version's files."),
    ),
});
export type SkillLockEntry = z.infer<typeof SkillLockEntry>;

/** `name@version` or `name@range` in an agent's `skills:` (the range is checked where its position can be shown). */
export const SkillRef = z.pipe(
  z
    .string({ error: 'expected a skill as name@version or name@range, e.g. ci-runbook@^2.1.0' })
    .check(
      z.regex(
        /^[a-z][a-z0-9-]{0,62}@\S+$/,
        'expected a skill as name@version or name@range, e.g. ci-runbook@^2.1.0 (the version pin is required)',
      ),
    ),
  z.transform((text) => {
    const at = text.indexOf('@');
    return { target: text.slice(0, at), version: text.slice(at + 1) };
  }),
);

/**
 * What a run uses: the exact version `looprail lock` resolved a pin to, with its hash.
 * In an org that keeps no lock file the pin is a bare range, resolved when each run starts.
 */
export interface SkillPin {
  name: string;
  /** As pinned in the definition (`^2`, `1.4.0`, `v2`). */
  range: string;
  version?: string;
  sha256?: string;
}
