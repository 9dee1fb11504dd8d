import type { Problem } from '../definitions/problems.ts';
import { SkillFile, SkillFrontMatter } from '../definitions/skills.ts';
import { splitFrontMatter } from '../definitions/front-matter.ts';
import { parseYaml, validateWith } from '../definitions/yaml-source.ts';
import { bundleHash, MAX_SKILL_BYTES, SKILL_ENTRY, skillFile } from './bundle.ts';

/** A skill folder read for publishing: SKILL.md's front matter parsed as YAML and checked. */

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
