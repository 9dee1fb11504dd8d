import { sha256 } from '../definitions/hash.ts';
import type { SkillFile, SkillRecord } from '../definitions/skills.ts';
import { splitFrontMatter } from '../definitions/front-matter.ts';

/**
 * A skill version as content: its files and hashes, the version's hash, and the checks
 * that the stored version is still what was published. No YAML parser: the deployed steps
 * import this; reading a folder's front matter is core/skills/folder.ts, at publish.
 */

export const SKILL_ENTRY = 'SKILL.md';
/** One version is one DynamoDB item (400 KB), with room for its other attributes. */
export const MAX_SKILL_BYTES = 300 * 1024;

export function skillFile(path: string, content: string): SkillFile {
  return { path, content, sha256: sha256(content) };
}

/** Every file's path and hash, in path order: any change to any file changes it. */
export function bundleHash(files: ReadonlyArray<Pick<SkillFile, 'path' | 'sha256'>>): string {
  return sha256(
    [...files]
      .sort((a, b) => (a.path < b.path ? -1 : 1))
      .map((file) => `${file.path}\u0000${file.sha256}\n`)
      .join(''),
  );
}

/** Why a stored version is not what was published (a file or the version hash changed), or undefined. */
export function tamperedBecause(record: SkillRecord, expectedSha256?: string): string | undefined {
  const changed = record.files.filter((file) => sha256(file.content) !== file.sha256).map((file) => file.path);
  if (changed.length > 0)
    return `${changed.join(', ')} no longer match${changed.length === 1 ? 'es' : ''} the hash recorded when it was published`;
  if (bundleHash(record.files) !== record.sha256)
    return 'its files no longer match the version hash recorded when it was published';
  if (expectedSha256 !== undefined && expectedSha256.replace(/^sha256:/, '') !== record.sha256) {
    return `its hash sha256:${record.sha256} is not the sha256:${expectedSha256.replace(/^sha256:/, '')} this deployment locked`;
  }
  return undefined;
}

/** SKILL.md without its front matter: what `load_skill` gives the model. */
export function skillBody(record: SkillRecord): string {
  const entry = record.files.find((file) => file.path === SKILL_ENTRY);
  return entry ? splitFrontMatter(entry.content).body.trim() : '';
}
