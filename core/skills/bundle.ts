import { sha256 } from '../definitions/hash.ts';
import type { Problem } from '../definitions/problems.ts';
import { SkillFile, SkillFrontMatter, type SkillRecord } from '../definitions/skills.ts';
import { splitFrontMatter } from '../definitions/org-validation.ts';
import { parseYaml, validateWith } from '../definitions/yaml-source.ts';

/**
 * A skill folder as content: its files and hashes, the version's hash, and the checks
 * that the stored version is still what was published.
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

export interface ParsedSkill {
  front: SkillFrontMatter;
  files: SkillFile[];
  sha256: string;
}

/** Reads a skill folder's files: SKILL.md's front matter, sizes, paths. Problems name the file and line. */
export function parseSkillFolder(
  display: string,
  files: Array<{ path: string; content: string }>,
): { skill?: ParsedSkill; problems: Problem[] } {
  const problem = (message: string, file = `${display}/${SKILL_ENTRY}`): { problems: Problem[] } => ({
    problems: [{ file, line: 1, col: 1, path: '', message, severity: 'error' }],
  });
  const entry = files.find((file) => file.path === SKILL_ENTRY);
  if (!entry)
    return problem(
      `no ${SKILL_ENTRY}: a skill is a folder with ${SKILL_ENTRY} (front matter name, description, version) and optional files`,
      display,
    );
  const bytes = files.reduce((sum, file) => sum + Buffer.byteLength(file.content) + file.path.length, 0);
  if (bytes > MAX_SKILL_BYTES)
    return problem(`the skill is ${bytes} bytes; a version is limited to ${MAX_SKILL_BYTES}`, display);
  const badPath = files.find((file) => !SkillFile.shape.path.safeParse(file.path).success);
  if (badPath) return problem(`"${badPath.path}" is not a relative path inside the skill folder`, display);
  const { frontMatter } = splitFrontMatter(entry.content);
  if (frontMatter === undefined)
    return problem('expected front matter (--- name, description, version ---) at the top of SKILL.md');
  const parsed = parseYaml(
    { file: `${display}/${SKILL_ENTRY}`, text: `\n${frontMatter}` },
    'front matter with name, description and version',
  );
  if (!parsed.ok) return { problems: parsed.problems };
  const front = validateWith(SkillFrontMatter, parsed.parsed);
  if (!front.ok) return { problems: front.problems };
  const hashed = files.map((file) => skillFile(file.path, file.content)).sort((a, b) => (a.path < b.path ? -1 : 1));
  return { skill: { front: front.value, files: hashed, sha256: bundleHash(hashed) }, problems: [] };
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
