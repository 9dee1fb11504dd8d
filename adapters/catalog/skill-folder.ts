import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Problem } from '../../core/definitions/problems.ts';
import { SkillsPolicyFile } from '../../core/definitions/skills.ts';
import { SKILLS_POLICY_FILE } from '../../core/definitions/validate.ts';
import { parseYaml, validateWith } from '../../core/definitions/yaml-source.ts';
import { MAX_SKILL_BYTES } from '../../core/skills/bundle.ts';

/** Reading a skill folder and the org's publishing policy from disk; the rules are in core/skills. */

const SKIP = new Set(['node_modules', '.git']);

/** Every file under `dir` (dot-files skipped) as UTF-8 text, with `/`-separated paths. */
export async function readSkillFolder(dir: string): Promise<Array<{ path: string; content: string }>> {
  return readSkillFolderSync(dir);
}

/** The same, synchronously: what the synth reads (constructs are built synchronously). A skill is small. */
export function readSkillFolderSync(dir: string): Array<{ path: string; content: string }> {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new Error(`${dir} is not a folder: a skill is a folder with SKILL.md`);
  const files: Array<{ path: string; content: string }> = [];
  let bytes = 0;
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.') || SKIP.has(entry.name)) continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const data = readFileSync(path);
        bytes += data.length;
        // Checked while reading, so a huge folder is refused before it is all in memory.
        if (bytes > MAX_SKILL_BYTES)
          throw new Error(`${dir} holds more than ${MAX_SKILL_BYTES} bytes; a skill version is limited to that`);
        const content = data.toString('utf8');
        if (data.includes(0) || !Buffer.from(content, 'utf8').equals(data))
          throw new Error(`${path} is not UTF-8 text: a skill holds text files only`);
        files.push({ path: relative(dir, path).split(sep).join('/'), content });
      }
    }
  };
  walk(dir);
  return files;
}

/** `skills.yaml` in the org folder, validated alone (a skill can be published before any agent pins it). */
export async function loadSkillsPolicy(orgDir: string): Promise<{ policy?: SkillsPolicyFile; problems: Problem[] }> {
  const file = join(orgDir, SKILLS_POLICY_FILE);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return { problems: [] };
  const parsed = parseYaml({ file, text }, 'a mapping with `skills:` (skill name → owners)');
  if (!parsed.ok) return { problems: parsed.problems };
  const validated = validateWith(SkillsPolicyFile, parsed.parsed);
  return validated.ok ? { policy: validated.value, problems: [] } : { problems: validated.problems };
}
