import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { formatProblem, loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { hasErrors } from '../../core/definitions/problems.ts';
import { LOCK_FILE, lockEntries } from '../../core/definitions/lock-file.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import type { SkillLockEntry } from '../../core/definitions/skills.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import { lockSkillPins } from '../../core/skills/lock.ts';

/**
 * `looprail lock`: records the hash of every versioned instructions file the agents use.
 * A version, once locked, names one content: a file changed under a locked version is
 * refused here (and by validate), and needs a new version instead.
 */
export async function lockOrg(options: {
  orgDir: string;
  log: (line: string) => void;
  /** The skills registry that pins resolve against; opened only when some agent pins a skill. */
  openSkills?: () => Promise<{ store: SkillStore; close(): Promise<void> }>;
}): Promise<boolean> {
  const { root, catalog, problems } = await loadOrgFolder(options.orgDir, process.cwd(), { ignoreLock: true });
  if (!catalog || hasErrors(problems)) {
    for (const problem of problems.filter((p) => p.severity === 'error')) options.log(formatProblem(problem));
    options.log(`✗ ${options.orgDir}: fix these first; nothing was locked`);
    return false;
  }
  const file = join(root, LOCK_FILE);
  const existing: Record<string, string> = await readFile(file, 'utf8').then(
    (text) => (parse(text) as { instructions?: Record<string, string> } | null)?.instructions ?? {},
    () => ({}),
  );
  const wanted = lockEntries(catalog);
  const changed = Object.entries(wanted).filter(([key, hash]) => existing[key] !== undefined && existing[key] !== hash);
  if (changed.length > 0) {
    for (const [key] of changed)
      options.log(`✗ ${key} changed since it was locked: give it a new version, pin that in the agent, and lock again`);
    return false;
  }
  const skills = await resolveSkills(catalog, options);
  if (!skills) return false;
  const added = Object.keys(wanted).filter((key) => existing[key] === undefined);
  const instructions = Object.fromEntries(
    Object.entries({ ...existing, ...wanted }).sort(([a], [b]) => a.localeCompare(b)),
  );
  await writeFile(file, lockFileText(instructions, skills));
  options.log(
    `✓ ${LOCK_FILE}: ${Object.keys(wanted).length} versioned file(s) in use, ${added.length} newly locked${added.length > 0 ? ` (${added.join(', ')})` : ''}`,
  );
  for (const [key, entry] of Object.entries(skills)) options.log(`✓ skill ${key} → ${entry.version} (${entry.sha256})`);
  return true;
}

/** The lock file as `looprail lock` writes it (`looprail new agent` too, for the instructions it adds). */
export function lockFileText(instructions: Record<string, string>, skills: Record<string, SkillLockEntry>): string {
  const header =
    '# Written by `looprail lock`: the content each versioned instructions file had when its\n# version was locked, and the registry version each skill pin resolved to. Commit it;\n# validate refuses a file changed under a locked version, runs use exactly these skills.\n';
  return header + stringify(Object.keys(skills).length > 0 ? { instructions, skills } : { instructions });
}

/** Every skill pin resolved in the registry, or undefined (with the reasons logged) when any cannot be. */
async function resolveSkills(
  catalog: Catalog,
  options: { log: (line: string) => void; openSkills?: () => Promise<{ store: SkillStore; close(): Promise<void> }> },
): Promise<Record<string, SkillLockEntry> | undefined> {
  if (!Object.values(catalog.agents).some((agent) => agent.spec.skills.length > 0)) return {};
  if (!options.openSkills) {
    options.log('✗ agents pin skills, but no skills registry is available to resolve them; nothing was locked');
    return undefined;
  }
  const registry = await options.openSkills();
  try {
    const { entries, failures } = await lockSkillPins(registry.store, catalog);
    if (failures.length === 0) return entries;
    for (const failure of failures) options.log(`✗ ${failure}`);
    options.log(`✗ ${LOCK_FILE}: nothing was locked`);
    return undefined;
  } finally {
    await registry.close();
  }
}
