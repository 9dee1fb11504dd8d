import type { Catalog } from '../definitions/catalog.ts';
import type { SkillLockEntry } from '../definitions/skills.ts';
import { skillLockKey } from '../definitions/lock-file.ts';
import { errorMessage } from '../errors.ts';
import type { SkillStore } from '../ports/skill-store.ts';
import { resolveSkillRange } from './registry.ts';

/**
 * What `looprail lock` records for skills: each pin (`name@range`) of every agent resolved
 * to the highest published, untampered version in its range. A pin that resolves to nothing
 * is a failure naming the agent; nothing is recorded then.
 */
export async function lockSkillPins(
  store: SkillStore,
  catalog: Catalog,
): Promise<{ entries: Record<string, SkillLockEntry>; failures: string[] }> {
  const entries: Record<string, SkillLockEntry> = {};
  const failures: string[] = [];
  const users = new Map<string, string[]>();
  for (const agent of Object.values(catalog.agents)) {
    for (const ref of agent.spec.skills) {
      const key = skillLockKey(ref.target, ref.version);
      users.set(key, [...(users.get(key) ?? []), agent.spec.name]);
    }
  }
  for (const key of [...users.keys()].sort()) {
    const at = key.indexOf('@');
    try {
      const record = await resolveSkillRange(store, key.slice(0, at), key.slice(at + 1));
      entries[key] = { version: record.version, sha256: `sha256:${record.sha256}` };
    } catch (error) {
      failures.push(`${key} (pinned by ${users.get(key)!.join(', ')}): ${errorMessage(error)}`);
    }
  }
  return { entries, failures };
}
