import type { Catalog } from '../definitions/catalog.ts';
import { sha256 } from '../definitions/hash.ts';
import { LOCK_FILE } from '../definitions/lock-file.ts';
import type { ParsedSkill } from './folder.ts';
import { publishRefusal } from './policy.ts';
import { parseRange, parseVersion, satisfies } from './semver.ts';

/**
 * Which skill versions a deployment publishes to its stack's registry: for every pin of
 * every agent, the org folder's `skills/<name>/`, which must be the pinned version (the
 * locked version and hash, or one in the range when the org keeps no lock) and which the
 * deploy's principal must be allowed to publish under `skills.yaml`. Anything else is a
 * refusal naming the pin, so synth fails before a run could end "not in the skills registry".
 */

/** Where a pin is written: the agent, its file and the index in `agent.skills`. */
export interface PinSite {
  agent: string;
  file: string;
  index: number;
  /** `name@range` as written. */
  ref: string;
}

export interface DeployedSkill {
  skill: ParsedSkill;
  pinnedBy: PinSite[];
}

export interface PinRefusal {
  site: PinSite;
  message: string;
}

/** The org folder's skill by name: parsed, or why it cannot be (no folder, a bad SKILL.md). */
export type ReadOrgSkill = (name: string) => { skill: ParsedSkill; folder: string } | { problem: string };

export function skillsToDeploy(
  catalog: Catalog,
  readSkill: ReadOrgSkill,
  principal: string,
): { skills: DeployedSkill[]; refusals: PinRefusal[] } {
  const read = new Map<string, ReturnType<ReadOrgSkill>>();
  const deployed = new Map<string, DeployedSkill>();
  const refusals: PinRefusal[] = [];
  for (const [agent, entry] of Object.entries(catalog.agents).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [index, pin] of (entry.skillPins ?? []).entries()) {
      const site: PinSite = { agent, file: entry.file, index, ref: `${pin.name}@${pin.range}` };
      if (!read.has(pin.name)) read.set(pin.name, readSkill(pin.name));
      const source = read.get(pin.name)!;
      const why =
        'problem' in source
          ? source.problem
          : (versionRefusal(source.skill, source.folder, pin) ?? ownerRefusal(catalog, pin.name, principal));
      if (why) {
        refusals.push({ site, message: `skill ${site.ref} cannot be published by this deploy: ${why}` });
        continue;
      }
      const skill = (source as { skill: ParsedSkill }).skill;
      const existing = deployed.get(pin.name);
      if (existing) existing.pinnedBy.push(site);
      else deployed.set(pin.name, { skill, pinnedBy: [site] });
    }
  }
  return { skills: byName([...deployed.values()]), refusals };
}

/** Why the folder is not the version the pin runs with: the locked version and hash, or one in the range. */
function versionRefusal(
  skill: ParsedSkill,
  folder: string,
  pin: { name: string; range: string; version?: string; sha256?: string },
): string | undefined {
  const version = skill.front.version;
  if (pin.version !== undefined) {
    if (version !== pin.version)
      return `${LOCK_FILE} locks it to ${pin.version}, but ${folder} is version ${version}: restore that version's folder or run \`looprail lock\` again`;
    const locked = pin.sha256?.replace(/^sha256:/, '');
    if (locked !== undefined && locked !== skill.sha256)
      return `${folder} (sha256:${skill.sha256}) is not the ${pin.version} that ${LOCK_FILE} locked (sha256:${locked}): a published version never changes; raise its version in SKILL.md and run \`looprail lock\``;
    return undefined;
  }
  const range = parseRange(pin.range);
  if (range && !satisfies(parseVersion(version)!, range))
    return `${folder} is version ${version}, which is not in ${pin.range}`;
  return undefined;
}

function ownerRefusal(catalog: Catalog, name: string, principal: string): string | undefined {
  const refusal = publishRefusal(catalog.skillsPolicy, name, principal);
  return refusal && `${refusal}; add "${principal}" (or "cdk:*") to them`;
}

/**
 * Changes whenever any deployed version's content does: the custom resource's update
 * trigger, which the publisher recomputes from its asset to know a request is for it.
 */
export function deployedSkillsHash(skills: ReadonlyArray<{ skill: ParsedSkill }>): string {
  return sha256(
    byName(skills)
      .map(({ skill }) => `${skill.front.name}@${skill.front.version}:${skill.sha256}\n`)
      .join(''),
  );
}

/** `name@version` of each deployed skill, in name order. */
export function deployedRefs(skills: ReadonlyArray<{ skill: ParsedSkill }>): string[] {
  return byName(skills).map(({ skill }) => `${skill.front.name}@${skill.front.version}`);
}

function byName<T extends { skill: ParsedSkill }>(skills: ReadonlyArray<T>): T[] {
  return [...skills].sort((a, b) => a.skill.front.name.localeCompare(b.skill.front.name));
}
