import type { SkillPin, SkillRecord } from '../definitions/skills.ts';
import type { SkillStore } from '../ports/skill-store.ts';
import { tamperedBecause } from './bundle.ts';
import { SkillNotFoundError, SkillTamperedError } from './errors.ts';
import { maxSatisfying, parseRange, RANGE_HELP } from './semver.ts';

/**
 * The registry's rules over its store at run time: resolve ranges, hand out only untampered
 * versions. Publishing (which parses a folder's YAML) is core/skills/publish.ts.
 */

/** The highest published version in `range`. */
export async function resolveSkillRange(store: SkillStore, name: string, range: string): Promise<SkillRecord> {
  const parsed = parseRange(range);
  if (!parsed)
    throw new SkillNotFoundError(`"${range}" is not a version range for skill ${name}: expected ${RANGE_HELP}`);
  const versions = (await store.listVersions(name)).map((summary) => summary.version);
  if (versions.length === 0)
    throw new SkillNotFoundError(
      `skill "${name}" is not in the skills registry: publish it with \`looprail skills publish <folder>\``,
    );
  const version = maxSatisfying(versions, parsed);
  if (!version)
    throw new SkillNotFoundError(
      `no published version of skill ${name} matches ${range} (published: ${sortVersions(versions).join(', ')})`,
    );
  return verifiedSkill(store, { name, version });
}

/** A version as stored, refused unless it still matches its hashes (and the locked hash, when given). */
export async function verifiedSkill(
  store: SkillStore,
  pin: { name: string; version: string; sha256?: string },
): Promise<SkillRecord> {
  const record = await store.getVersion(pin.name, pin.version);
  if (!record) throw new SkillNotFoundError(`skill ${pin.name}@${pin.version} is not in the skills registry`);
  const tampered = tamperedBecause(record, pin.sha256);
  if (tampered) throw new SkillTamperedError(`skill ${pin.name}@${pin.version} was refused: ${tampered}`);
  return record;
}

/** A pin as locked (its exact version and hash), or, unlocked, the highest published version in its range. */
export function pinnedSkill(store: SkillStore, pin: SkillPin): Promise<SkillRecord> {
  return pin.version !== undefined
    ? verifiedSkill(store, { name: pin.name, version: pin.version, sha256: pin.sha256 })
    : resolveSkillRange(store, pin.name, pin.range);
}

function sortVersions(versions: string[]): string[] {
  return [...versions].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}
