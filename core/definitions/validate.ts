import { posix } from 'node:path';
import { parse as parseYamlText } from 'yaml';
import { z } from 'zod';
import { AgentFile, type AgentSpec } from './agent.ts';
import { GuardrailsFile, type GuardrailPolicy } from './guardrails.ts';
import type { AgentEntry, Catalog, InstructionsDoc, ModelEntry, SkillDoc } from './catalog.ts';
import { BudgetsFile, McpServerDeclaration, ModelScript, ModelsFile, SecretsFile } from './org.ts';
import { sha256 } from './hash.ts';
import { sameVersion, type VersionedRef } from './primitives.ts';
import { SkillFrontMatter, SkillLockEntry, SkillsPolicyFile, type SkillPin } from './skills.ts';
import { parseRange, parseVersion, RANGE_HELP, satisfies } from '../skills/semver.ts';
import { formatPath, hasErrors, type Problem } from './problems.ts';
import { parseYaml, validateWith, type ParsedYaml } from './yaml-source.ts';
import { grantAllows, normalizeGrant, grantedTools } from '../policy/grants.ts';
import { writeToolsOf } from '../policy/checker-read-only.ts';
import { matchesToolPattern } from '../policy/tool-patterns.ts';
import { sandboxGrantProblems, sandboxServerProblem } from '../policy/sandbox-grants.ts';
import { SANDBOX_DECLARATION } from '../sandbox/tools.ts';
import { unknownFilterKeys, WEBHOOK_FILTER_KEYS } from '../policy/webhook-signature.ts';

/**
 * Validates a whole org folder (the GitOps folder, `agents/` by default) from its
 * files' texts: each file against its schema, then the references between files.
 * Pure: the caller reads the files. Every problem is reported, not just the first.
 *
 * Layout: `models.yaml`, `budgets.yaml`, `secrets.yaml` at the root; `mcp-servers/*.yaml`;
 * `skills/<name>/SKILL.md`; `scripts/*.yaml` (scripted models); every other YAML file
 * is an agent definition. Markdown files are instructions, found by reference.
 */

export interface OrgFile {
  /** Relative to the org root, with `/` separators: decides what the file is. */
  path: string;
  /** As shown in messages (relative to where the user pointed). */
  display: string;
  text: string;
}

export interface ValidationResult {
  /** Present only when there are no errors. */
  catalog?: Catalog;
  problems: Problem[];
}

/** `looprail.lock.yaml`: the content hash each versioned instructions file had when its version was locked. */
export const LOCK_FILE = 'looprail.lock.yaml';
/** `skills.yaml`: who may publish which skill to the registry. */
export const SKILLS_POLICY_FILE = 'skills.yaml';
const ORG_FILES = new Set(['models.yaml', 'budgets.yaml', 'secrets.yaml', 'guardrails.yaml', SKILLS_POLICY_FILE, LOCK_FILE]);
const isYaml = (path: string) => /\.ya?ml$/i.test(path);

const InstructionsFrontMatter = z.object({ version: z.union([z.string(), z.number()]).transform(String).optional() }).loose();

/** Splits `---\nfront matter\n---\nbody`; files without front matter have none. */
export function splitFrontMatter(text: string): { frontMatter?: string; body: string; bodyLine: number } {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!match) return { body: text, bodyLine: 1 };
  return { frontMatter: match[1], body: text.slice(match[0].length), bodyLine: match[0].split('\n').length };
}

class Validation {
  readonly problems: Problem[] = [];
  /** When the org keeps a lock file, every versioned instructions file must match it. */
  lock?: LockFile;
  private readonly byPath = new Map<string, OrgFile>();

  constructor(files: OrgFile[]) {
    for (const file of files) this.byPath.set(file.path, file);
  }

  file(path: string): OrgFile | undefined {
    return this.byPath.get(path);
  }

  add(problem: Omit<Problem, 'severity'> & { severity?: Problem['severity'] }): void {
    this.problems.push({ severity: 'error', ...problem });
  }

  at(parsed: ParsedYaml, path: ReadonlyArray<PropertyKey>, message: string, severity: Problem['severity'] = 'error'): void {
    this.problems.push({ file: parsed.file, ...parsed.locate(path), path: formatPath(path), message, severity });
  }

  /** Parses and validates one YAML file; problems are recorded, undefined on failure. */
  load<T extends z.ZodType>(file: OrgFile, schema: T, expected: string): { parsed: ParsedYaml; value: z.output<T> } | undefined {
    const result = parseYaml({ file: file.display, text: file.text }, expected);
    if (!result.ok) {
      this.problems.push(...result.problems);
      return undefined;
    }
    const validated = validateWith(schema, result.parsed);
    if (!validated.ok) {
      this.problems.push(...validated.problems);
      return undefined;
    }
    return { parsed: result.parsed, value: validated.value };
  }
}

function loadSkill(v: Validation, file: OrgFile): SkillDoc | undefined {
  const folder = file.path.split('/')[1]!;
  const { frontMatter, body } = splitFrontMatter(file.text);
  if (frontMatter === undefined) {
    v.add({ file: file.display, line: 1, col: 1, path: '', message: 'expected front matter (--- name, description, version ---) at the top of SKILL.md' });
    return undefined;
  }
  // A leading newline stands for the opening `---`, so problems point at the file's own lines.
  const loaded = v.load({ ...file, text: `\n${frontMatter}` }, SkillFrontMatter, 'front matter with name, description and version');
  if (!loaded) return undefined;
  if (loaded.value.name !== folder) {
    v.at(loaded.parsed, ['name'], `expected "${folder}": a skill's name is its folder's name`);
    return undefined;
  }
  return { ...loaded.value, content: body.trim(), sha256: sha256(file.text) };
}

const LockFile = z.strictObject({
  instructions: z.record(z.string().regex(/^[^@]+@[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected path@version'), z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256: and 64 hex digits')).default({}),
  /** Each skill pin (`name@range`) and the registry version it resolved to when locked. */
  skills: z.record(z.string().regex(/^[a-z][a-z0-9-]*@.+$/, 'expected name@range'), SkillLockEntry).default({}),
});
export type LockFile = z.infer<typeof LockFile>;

/** The lock key of a versioned file: its path in the org folder and its version. */
export function lockKey(resolvedPath: string, version: string): string {
  return `${resolvedPath}@${version}`;
}

function loadInstructions(v: Validation, parsed: ParsedYaml, fieldPath: PropertyKey[], agentPath: string, ref: VersionedRef): InstructionsDoc | undefined {
  const resolved = posix.normalize(posix.join(posix.dirname(agentPath), ref.target));
  const file = v.file(resolved);
  if (!file) {
    v.at(parsed, fieldPath, `instructions file "${ref.target}" not found (looked for ${resolved} in the org folder)`);
    return undefined;
  }
  const { frontMatter, body } = splitFrontMatter(file.text);
  if (frontMatter !== undefined) {
    const meta = InstructionsFrontMatter.safeParse(safeYaml(frontMatter));
    const declared = meta.success ? meta.data.version : undefined;
    if (declared !== undefined && !sameVersion(declared, ref.version)) {
      v.at(parsed, fieldPath, `pinned @${ref.version}, but ${resolved} declares version ${declared}`);
      return undefined;
    }
  }
  if (body.trim() === '') {
    v.at(parsed, fieldPath, `instructions file ${resolved} is empty`);
    return undefined;
  }
  const hash = sha256(file.text);
  // A version names one content: once locked, changing the file needs a new version.
  if (v.lock) {
    const locked = v.lock.instructions[lockKey(resolved, ref.version)];
    if (locked === undefined) {
      v.at(parsed, fieldPath, `${resolved}@${ref.version} is not in ${LOCK_FILE}: run \`looprail lock\` to record it`);
      return undefined;
    }
    if (locked !== `sha256:${hash}`) {
      v.at(parsed, fieldPath, `${resolved} changed since version ${ref.version} was locked: give it a new version (and pin @that here), then run \`looprail lock\``);
      return undefined;
    }
  }
  return { path: ref.target, file: resolved, version: ref.version, text: body.trim(), sha256: hash };
}

function safeYaml(text: string): unknown {
  try {
    return parseYamlText(text);
  } catch {
    return undefined;
  }
}

interface LoadedAgent {
  file: OrgFile;
  parsed: ParsedYaml;
  value: z.output<typeof AgentFile>;
}

export interface ValidateOptions {
  /** Names of the custom guardrail rules the runtime has (guardrails/rules.ts). */
  customRules?: string[];
  /** `looprail lock` reads the org as it is, to write the lock: the current lock is not applied. */
  ignoreLock?: boolean;
}

export function validateOrg(files: OrgFile[], options: ValidateOptions = {}): ValidationResult {
  const v = new Validation(files);
  const customRules = new Set(options.customRules ?? []);
  const checkCustomRules = (parsed: ParsedYaml, base: PropertyKey[], policy: GuardrailPolicy | undefined) => {
    policy?.custom.forEach((ref, index) => {
      if (!customRules.has(ref.rule)) {
        v.at(parsed, [...base, 'custom', index, 'rule'], `unknown custom guardrail rule "${ref.rule}" (${customRules.size > 0 ? `guardrails/rules.ts has: ${[...customRules].sort().join(', ')}` : 'guardrails/rules.ts registers none'})`);
      }
    });
  };
  const yamlFiles = files.filter((file) => isYaml(file.path));

  // The lock file first: instructions are checked against it as agents are read.
  const lockFile = options.ignoreLock ? undefined : v.file(LOCK_FILE);
  if (lockFile) v.lock = v.load(lockFile, LockFile, 'a mapping with `instructions:`')?.value;

  // Org-wide declarations.
  const modelsFile = v.file('models.yaml') ?? v.file('models.yml');
  const models = modelsFile ? v.load(modelsFile, ModelsFile, 'a mapping with `models:`') : undefined;
  const budgetsFile = v.file('budgets.yaml') ?? v.file('budgets.yml');
  const budgets = budgetsFile ? v.load(budgetsFile, BudgetsFile, 'a mapping with `budgets:` and/or `limits:`') : undefined;
  const secretsFile = v.file('secrets.yaml') ?? v.file('secrets.yml');
  const secrets = secretsFile ? v.load(secretsFile, SecretsFile, 'a mapping with `secrets:`') : undefined;
  const secretNames = new Set(Object.keys(secrets?.value.secrets ?? {}));
  const guardrailsFile = v.file('guardrails.yaml') ?? v.file('guardrails.yml');
  const guardrails = guardrailsFile ? v.load(guardrailsFile, GuardrailsFile, 'a mapping with `guardrails:`') : undefined;
  if (guardrails) checkCustomRules(guardrails.parsed, ['guardrails'], guardrails.value.guardrails);
  const secretsWhere = secretsFile ? secretsFile.display : 'secrets.yaml (missing)';
  const skillsPolicyFile = v.file(SKILLS_POLICY_FILE);
  const skillsPolicy = skillsPolicyFile ? v.load(skillsPolicyFile, SkillsPolicyFile, 'a mapping with `skills:` (skill name → owners)') : undefined;

  const checkSecret = (parsed: ParsedYaml, path: PropertyKey[], name: string) => {
    if (!secretNames.has(name)) v.at(parsed, path, `unknown secret "${name}": declare it by name in ${secretsWhere} (never its value)`);
  };

  // Servers. A server file with problems is still "declared": agents naming it get no second error.
  const servers: Record<string, McpServerDeclaration> = {};
  const invalidServers = new Set<string>();
  for (const file of yamlFiles.filter((f) => f.path.startsWith('mcp-servers/'))) {
    const loaded = v.load(file, McpServerDeclaration, 'an MCP server declaration (name, transport, tools)');
    if (!loaded) {
      invalidServers.add(posix.basename(file.path).replace(/\.ya?ml$/i, ''));
      continue;
    }
    const server = loaded.value;
    const stem = posix.basename(file.path).replace(/\.ya?ml$/i, '');
    const reserved = sandboxServerProblem(server);
    if (reserved) v.at(loaded.parsed, server.transport.type === 'builtin' ? ['transport', 'type'] : ['name'], reserved);
    else if (server.name !== stem) v.at(loaded.parsed, ['name'], `expected "${stem}": a server's name is its file's name`);
    else if (servers[server.name]) v.at(loaded.parsed, ['name'], `server "${server.name}" is declared twice`);
    else servers[server.name] = server;
    if (server.auth) checkSecret(loaded.parsed, ['auth', 'secret'], server.auth.secret);
    for (const [tool, flags] of Object.entries(server.tools)) {
      // Overrides are allowed, never silent: each is listed whenever definitions are checked.
      if (flags.override_annotations) v.at(loaded.parsed, ['tools', tool, 'override_annotations'], `overrides the server's annotations for ${tool}: ${flags.override_annotations}`, 'warning');
    }
    if (server.transport.type === 'stdio') {
      for (const [variable, secret] of Object.entries(server.transport.env_secrets)) {
        checkSecret(loaded.parsed, ['transport', 'env_secrets', variable], secret);
      }
    }
  }

  // looprail's own sandbox server, declared like any other so grants and checker rules apply to it unchanged.
  servers[SANDBOX_DECLARATION.name] = SANDBOX_DECLARATION;

  // Models, and the scripts of scripted ones.
  const modelEntries: Record<string, ModelEntry> = {};
  for (const [name, declaration] of Object.entries(models?.value.models ?? {})) {
    const entry: ModelEntry = { name, declaration };
    if ('secret' in declaration && declaration.secret) checkSecret(models!.parsed, ['models', name, 'secret'], declaration.secret);
    if (declaration.provider === 'scripted') {
      const scriptPath = posix.normalize(declaration.script);
      const scriptFile = v.file(scriptPath);
      if (!scriptFile) {
        v.at(models!.parsed, ['models', name, 'script'], `script "${declaration.script}" not found in the org folder`);
      } else {
        const script = v.load(scriptFile, ModelScript, 'a model script with `turns:`');
        if (script) entry.script = script.value;
      }
    }
    modelEntries[name] = entry;
  }
  const modelsWhere = modelsFile ? modelsFile.display : 'models.yaml (missing)';

  // Skills.
  const skills: Record<string, SkillDoc> = {};
  for (const file of files.filter((f) => /^skills\/[^/]+\/SKILL\.md$/.test(f.path))) {
    const skill = loadSkill(v, file);
    if (skill) skills[skill.name] = skill;
  }

  // Agents: every other YAML file.
  const agentFiles = yamlFiles.filter(
    (file) => !ORG_FILES.has(file.path.replace(/\.yml$/i, '.yaml')) && !/^(mcp-servers|scripts|skills)\//.test(file.path),
  );
  const loadedAgents: LoadedAgent[] = [];
  for (const file of agentFiles) {
    const loaded = v.load(file, AgentFile, 'an agent definition with a top-level `agent:` key');
    if (loaded) loadedAgents.push({ file, ...loaded });
  }

  const agents: Record<string, AgentEntry> = {};
  const firstFile = new Map<string, string>();
  for (const { file, parsed, value } of loadedAgents) {
    const spec = value.agent;
    const previous = firstFile.get(spec.name);
    if (previous) {
      v.at(parsed, ['agent', 'name'], `duplicate agent name "${spec.name}" (also defined in ${previous})`);
      continue;
    }
    firstFile.set(spec.name, file.display);
    const entry = checkAgent(v, parsed, file, spec, {
      servers,
      invalidServers,
      models: modelEntries,
      // When models.yaml itself has problems, they are reported there, not again at every reference.
      modelsUnreadable: modelsFile !== undefined && models === undefined,
      modelsWhere,
      skills,
      checkSecret,
      lockMode: options.ignoreLock === true,
    });
    if (value.trigger?.webhook) {
      checkSecret(parsed, ['trigger', 'webhook', 'secret'], value.trigger.webhook.secret);
      for (const key of unknownFilterKeys(value.trigger.webhook.filter ?? {})) {
        v.at(parsed, ['trigger', 'webhook', 'filter', key], `unknown webhook filter "${key}"; expected ${WEBHOOK_FILTER_KEYS.join(', ')}`);
      }
    }
    checkCustomRules(parsed, ['agent', 'guardrails'], spec.guardrails);
    if (!spec.owner && !spec.team) {
      v.at(parsed, ['agent', 'name'], 'no owner or team: the inventory will list this loop as unowned', 'warning');
    }
    if (entry) agents[spec.name] = { ...entry, trigger: value.trigger };
  }

  // Sub-agents that run another agent of the org: it must exist (it may be this agent: the depth limit stops the recursion).
  for (const { parsed, value } of loadedAgents) {
    value.agent.subagents.forEach((sub, index) => {
      if (sub.agent !== undefined && !firstFile.has(sub.agent)) v.at(parsed, ['agent', 'subagents', index, 'agent'], `unknown agent "${sub.agent}" (known: ${[...firstFile.keys()].sort().join(', ')})`);
    });
  }

  // Budgets reference agents, teams and models.
  if (budgets) {
    const teams = new Set(loadedAgents.map((a) => a.value.agent.team).filter((t): t is string => t !== undefined));
    budgets.value.budgets.forEach((budget, index) => {
      if (budget.agent && !firstFile.has(budget.agent)) v.at(budgets.parsed, ['budgets', index, 'agent'], `unknown agent "${budget.agent}"`);
      if (budget.team && !teams.has(budget.team)) v.at(budgets.parsed, ['budgets', index, 'team'], `unknown team "${budget.team}": no agent declares it`);
      if (budget.model && !modelEntries[budget.model]) v.at(budgets.parsed, ['budgets', index, 'model'], `unknown model "${budget.model}" (not in ${modelsWhere})`);
    });
    budgets.value.limits.forEach((limit, index) => {
      if (!firstFile.has(limit.agent)) v.at(budgets.parsed, ['limits', index, 'agent'], `unknown agent "${limit.agent}"`);
    });
  }

  const problems = v.problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
  if (hasErrors(problems)) return { problems };
  return {
    problems,
    catalog: {
      agents,
      models: modelEntries,
      servers,
      skills,
      secrets: [...secretNames].sort(),
      budgets: budgets?.value ?? { budgets: [], limits: [] },
      guardrails: guardrails?.value.guardrails,
      sandboxPricing: models?.value.sandbox,
      skillsPolicy: skillsPolicy?.value,
    },
  };
}

interface AgentContext {
  servers: Record<string, McpServerDeclaration>;
  invalidServers: Set<string>;
  models: Record<string, ModelEntry>;
  modelsUnreadable: boolean;
  modelsWhere: string;
  skills: Record<string, SkillDoc>;
  checkSecret: (parsed: ParsedYaml, path: PropertyKey[], name: string) => void;
  /** `looprail lock` resolves skill ranges itself, against the registry. */
  lockMode: boolean;
}

/** The references of one agent definition; returns its catalog entry when they all resolve. */
function checkAgent(v: Validation, parsed: ParsedYaml, file: OrgFile, spec: AgentSpec, ctx: AgentContext): Omit<AgentEntry, 'trigger'> | undefined {
  const before = v.problems.filter((p) => p.severity === 'error').length;
  const checkModel = (path: PropertyKey[], name: string | undefined) => {
    if (name !== undefined && !ctx.models[name] && !ctx.modelsUnreadable) v.at(parsed, path, `unknown model "${name}" (not in ${ctx.modelsWhere})`);
  };
  checkModel(['agent', 'model'], spec.model);
  checkModel(['agent', 'fallback_model'], spec.fallback_model);
  checkModel(['agent', 'harness', 'context', 'compaction_model'], spec.harness.context?.compaction_model);

  const instructions = loadInstructions(v, parsed, ['agent', 'instructions'], file.path, spec.instructions);

  // Skills come from the registry: a pin is a range that `looprail lock` resolved to one published version.
  const skillPins: SkillPin[] = [];
  spec.skills.forEach((ref, index) => {
    const path = ['agent', 'skills', index];
    const range = parseRange(ref.version);
    if (!range) return v.at(parsed, path, `"${ref.version}" is not a version range for skill ${ref.target}: expected ${RANGE_HELP}`);
    if (ctx.lockMode) return;
    // Without a lock file (as for instructions) nothing is locked yet: runs resolve the range when they start.
    if (!v.lock) return void skillPins.push({ name: ref.target, range: ref.version });
    const key = skillLockKey(ref.target, ref.version);
    const locked = v.lock.skills[key];
    if (!locked) return v.at(parsed, path, `skill ${key} is not resolved in ${LOCK_FILE}: run \`looprail lock\` (it resolves the range against the skills registry)`);
    if (!satisfies(parseVersion(locked.version)!, range)) return v.at(parsed, path, `skill ${key} is locked to ${locked.version}, which is outside that range: run \`looprail lock\` again`);
    skillPins.push({ name: ref.target, range: ref.version, version: locked.version, sha256: locked.sha256 });
  });

  const checkGrants = (base: PropertyKey[], inputs: AgentSpec['mcp_servers']) => {
    inputs.forEach((input, index) => {
      const grant = normalizeGrant(input);
      const path = typeof input === 'string' ? [...base, index] : [...base, index, 'name'];
      const server = ctx.servers[grant.server];
      if (!server) {
        if (!ctx.invalidServers.has(grant.server)) v.at(parsed, path, `unknown MCP server "${grant.server}" (no mcp-servers/${grant.server}.yaml)`);
        return;
      }
      for (const key of ['allow', 'deny'] as const) {
        grant[key]?.forEach((pattern, patternIndex) => {
          if (!Object.keys(server.tools).some((tool) => grantAllows({ server: grant.server, allow: [pattern] }, tool))) {
            v.at(parsed, [...base, index, key, patternIndex], `"${pattern}" matches no tool declared on ${grant.server}`, 'warning');
          }
        });
      }
    });
  };
  checkGrants(['agent', 'mcp_servers'], spec.mcp_servers);

  const subagentInstructions: Record<string, InstructionsDoc> = {};
  const seen = new Set<string>();
  spec.subagents.forEach((sub, index) => {
    const base = ['agent', 'subagents', index];
    if (seen.has(sub.name)) v.at(parsed, [...base, 'name'], `duplicate sub-agent name "${sub.name}"`);
    seen.add(sub.name);
    checkModel([...base, 'model'], sub.model);
    checkGrants([...base, 'mcp_servers'], sub.mcp_servers);
    if (sub.agent !== undefined) {
      // An org agent brings its own definition: nothing here may quietly differ from it.
      const own: string[] = (['model', 'instructions', 'harness', 'role'] as const).filter((key) => sub[key] !== undefined);
      if (sub.mcp_servers.length > 0) own.push('mcp_servers');
      if (own.length > 0) v.at(parsed, [...base, 'agent'], `sub-agent "${sub.name}" runs agent "${sub.agent}" with its own definition; remove ${own.join(', ')} here`);
      if (spec.verify?.checker === sub.name) v.at(parsed, [...base, 'agent'], `the checker "${sub.name}" must be declared here (model, instructions, read-only tools), not run another agent`);
    }
    if (sub.instructions) {
      const doc = loadInstructions(v, parsed, [...base, 'instructions'], file.path, sub.instructions);
      if (doc) subagentInstructions[sub.name] = doc;
    }
    const isChecker = sub.role === 'checker' || spec.verify?.checker === sub.name;
    if (isChecker) {
      const writes = writeToolsOf(sub.mcp_servers.map(normalizeGrant), ctx.servers);
      if (writes.length > 0) {
        v.at(parsed, [...base, 'mcp_servers'], `checker "${sub.name}" may only hold read-only tools, but is granted ${writes.join(', ')} (deny them, or declare them read_only in their server file if they truly are)`);
      }
    }
  });

  if (spec.verify) {
    const checker = spec.subagents.find((sub) => sub.name === spec.verify!.checker);
    if (!checker) v.at(parsed, ['agent', 'verify', 'checker'], `unknown sub-agent "${spec.verify.checker}": declare it under agent.subagents`);
    else if (checker.role === 'maker') v.at(parsed, ['agent', 'verify', 'checker'], `"${checker.name}" is declared role: maker; a checker must be role: checker (or leave role out)`);
  }

  const reachable = grantedTools(spec.mcp_servers.map(normalizeGrant), ctx.servers);
  for (const pattern of Object.keys(spec.approvals)) {
    if (!reachable.some((tool) => matchesToolPattern(pattern, tool.server, tool.tool))) {
      v.at(parsed, ['agent', 'approvals', pattern], `approval rule "${pattern}" matches no tool this agent is granted`, 'warning');
    }
  }

  for (const problem of sandboxGrantProblems(spec)) v.at(parsed, problem.path, problem.message, problem.severity);

  const after = v.problems.filter((p) => p.severity === 'error').length;
  if (after > before || !instructions) return undefined;
  return { file: file.display, spec, instructions, subagentInstructions, skillPins };
}

/** The lock key of a skill pin: the skill's name and the range as written. */
export function skillLockKey(name: string, range: string): string {
  return `${name}@${range}`;
}

/** What `looprail lock` records: every versioned instructions file the agents use, with its hash. */
export function lockEntries(catalog: Catalog): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const agent of Object.values(catalog.agents)) {
    for (const doc of [agent.instructions, ...Object.values(agent.subagentInstructions)]) {
      if (doc.file) entries[lockKey(doc.file, doc.version)] = `sha256:${doc.sha256}`;
    }
  }
  return entries;
}
