import { resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { formatProblem } from '../../core/definitions/problems.ts';
import type { SkillStore, SkillSummary } from '../../core/ports/skill-store.ts';
import { SKILL_ENTRY } from '../../core/skills/bundle.ts';
import { publishRefusal } from '../../core/skills/policy.ts';
import { publishUnlessPresent } from '../../core/skills/publish.ts';
import { verifiedSkill } from '../../core/skills/registry.ts';
import { compareVersions, parseVersion } from '../../core/skills/semver.ts';
import { loadSkillsPolicy, readSkillFolder } from '../../adapters/catalog/skill-folder.ts';
import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import { openLocalState } from '../local/host.ts';
import { localPrincipal } from '../local/seed-skills.ts';

/**
 * `looprail skills publish|list|show`: the skills registry in the local state's table
 * (the same table, keys and rules as a deployed stack's).
 */

type Log = (line: string) => void;

export async function publishCommand(
  store: SkillStore,
  options: { dir: string; orgDir: string; principal: string; now?: Date; log: Log },
): Promise<boolean> {
  const { policy, problems } = await loadSkillsPolicy(options.orgDir);
  if (problems.length > 0) {
    for (const problem of problems) options.log(formatProblem(problem));
    options.log('✗ fix the skills policy first; nothing was published');
    return false;
  }
  try {
    const outcome = await publishUnlessPresent(store, {
      display: options.dir,
      files: await readSkillFolder(options.dir),
      principal: options.principal,
      policy,
      now: options.now ?? new Date(),
    });
    if (outcome.outcome === 'differs') {
      options.log(`✗ ${outcome.message}`);
      return false;
    }
    if (outcome.outcome === 'published') {
      const record = outcome.record;
      options.log(
        `✓ published ${record.name}@${record.version} (${record.files.length} file${record.files.length === 1 ? '' : 's'}, sha256:${record.sha256}) as ${record.publisher}`,
      );
      return true;
    }
    // The same content again (a local run publishes the org's skills itself): nothing to do, if this publisher may.
    const refusal = publishRefusal(policy, outcome.name, options.principal);
    if (refusal) {
      options.log(`✗ ${refusal}; nothing was published`);
      return false;
    }
    options.log(
      `✓ ${outcome.name}@${outcome.version} is already published with this content; nothing to do (to publish a change, raise the version in SKILL.md)`,
    );
    return true;
  } catch (error) {
    options.log(`✗ ${(error as Error).message}`);
    return false;
  }
}

function byNameThenVersion(a: SkillSummary, b: SkillSummary): number {
  return a.name.localeCompare(b.name) || compareVersions(parseVersion(a.version)!, parseVersion(b.version)!);
}

export async function listCommand(
  store: SkillStore,
  options: { name?: string; json?: boolean; log: Log },
): Promise<boolean> {
  const versions = (await store.listVersions(options.name)).sort(byNameThenVersion);
  if (options.json) {
    options.log(JSON.stringify(versions, null, 2));
    return true;
  }
  for (const v of versions)
    options.log(`${`${v.name}@${v.version}`.padEnd(36)} ${v.publishedAt}  ${v.publisher.padEnd(28)} ${v.description}`);
  if (versions.length === 0)
    options.log(
      options.name
        ? `no published versions of skill "${options.name}"`
        : 'no skills published yet: `looprail skills publish <folder>`',
    );
  return versions.length > 0 || !options.name;
}

/** `name` (its latest version) or `name@version`; the content is checked against its hashes before it is shown. */
export async function showCommand(
  store: SkillStore,
  options: { ref: string; json?: boolean; log: Log },
): Promise<boolean> {
  const [name, requested] = options.ref.split('@') as [string, string | undefined];
  let version = requested;
  if (!version) {
    const latest = (await store.listVersions(name)).sort(byNameThenVersion).at(-1);
    if (!latest) {
      options.log(`✗ skill "${name}" is not in the skills registry`);
      return false;
    }
    version = latest.version;
  }
  try {
    const record = await verifiedSkill(store, { name, version });
    if (options.json) {
      options.log(JSON.stringify(record, null, 2));
      return true;
    }
    options.log(`${record.name}@${record.version}: ${record.description}`);
    options.log(`published by ${record.publisher} at ${record.publishedAt}; sha256:${record.sha256}`);
    for (const file of record.files) options.log(`  ${file.path.padEnd(40)} sha256:${file.sha256}`);
    options.log('');
    options.log(record.files.find((file) => file.path === SKILL_ENTRY)?.content ?? '');
    return true;
  } catch (error) {
    options.log(`✗ ${(error as Error).message}`);
    return false;
  }
}

/** The registry of the local state (DynamoDB Local under --state-dir). */
export async function openLocalSkills(stateDir: string): Promise<{ store: SkillStore; close(): Promise<void> }> {
  const state = await openLocalState({ stateDir: resolve(stateDir) });
  return {
    store: new DynamoSkillStore({ client: state.client, tableName: state.tableName }),
    close: () => state.close(),
  };
}

async function withLocalStore<T>(stateDir: string, fn: (store: SkillStore) => Promise<T>): Promise<T> {
  const registry = await openLocalSkills(stateDir);
  try {
    return await fn(registry.store);
  } finally {
    await registry.close();
  }
}

export function registerSkillsCommand(program: Command, stateDirOption: Option): void {
  const skills = program
    .command('skills')
    .description('the skills registry: publish immutable skill versions, list and show them');
  const log: Log = (line) => console.log(line);
  skills
    .command('publish')
    .description('store the skill in DIR (SKILL.md with name, description, semver version) as a new, immutable version')
    .argument('<dir>', 'the skill folder')
    .option('--org <dir>', 'the org folder whose skills.yaml says who may publish', 'agents')
    .addOption(stateDirOption)
    .action(async (dir: string, options: { org: string; stateDir: string }) => {
      const ok = await withLocalStore(options.stateDir, (store) =>
        publishCommand(store, { dir, orgDir: options.org, principal: localPrincipal(), log }),
      );
      process.exitCode = ok ? 0 : 1;
    });
  skills
    .command('list')
    .description('published skill versions (one skill with NAME)')
    .argument('[name]', 'a skill name')
    .addOption(stateDirOption)
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, options: { stateDir: string; json?: boolean }) => {
      const ok = await withLocalStore(options.stateDir, (store) =>
        listCommand(store, { name, json: options.json, log }),
      );
      process.exitCode = ok ? 0 : 1;
    });
  skills
    .command('show')
    .description('one version (NAME for the latest, NAME@VERSION), checked against its hashes')
    .argument('<ref>', 'name or name@version')
    .addOption(stateDirOption)
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { stateDir: string; json?: boolean }) => {
      const ok = await withLocalStore(options.stateDir, (store) =>
        showCommand(store, { ref, json: options.json, log }),
      );
      process.exitCode = ok ? 0 : 1;
    });
}
