import { posix } from 'node:path';
import { AgentFile } from './agent.ts';
import { GuardrailsFile, type GuardrailPolicy } from './guardrails.ts';
import type { AgentEntry, Catalog, ModelEntry, SkillDoc } from './catalog.ts';
import { LOCK_FILE, LockFile } from './lock-file.ts';
import { BudgetsFile, McpServerDeclaration, ModelScript, ModelsFile, SecretsFile } from './org.ts';
import { splitFrontMatter } from './front-matter.ts';
import { Validation, type Loaded, type OrgFile } from './org-validation.ts';
import { sha256 } from './hash.ts';
import { hasErrors, type Problem } from './problems.ts';
import { SkillFrontMatter, SkillsPolicyFile } from './skills.ts';
import { checkAgent, type AgentContext } from './validate-agent.ts';
import { checkScripts } from './validate-scripts.ts';
import type { ParsedYaml } from './yaml-source.ts';
import { sandboxServerProblem } from '../policy/sandbox-grants.ts';
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
 * The references of each agent are checked in validate-agent.ts.
 */

export interface ValidationResult {
  /** Present only when there are no errors. */
  catalog?: Catalog;
  problems: Problem[];
}

/** `skills.yaml`: who may publish which skill to the registry. */
export const SKILLS_POLICY_FILE = 'skills.yaml';
const ORG_FILES = new Set([
  'models.yaml',
  'budgets.yaml',
  'secrets.yaml',
  'guardrails.yaml',
  SKILLS_POLICY_FILE,
  LOCK_FILE,
]);
const isYaml = (path: string) => /\.ya?ml$/i.test(path);

export interface ValidateOptions {
  /** Names of the custom guardrail rules the runtime has (guardrails/rules.ts). */
  customRules?: string[];
  /** `looprail lock` reads the org as it is, to write the lock: the current lock is not applied. */
  ignoreLock?: boolean;
}

export function validateOrg(files: OrgFile[], options: ValidateOptions = {}): ValidationResult {
  const v = new Validation(files);
  // The lock file first: instructions are checked against it as agents are read.
  const lockFile = options.ignoreLock ? undefined : v.file(LOCK_FILE);
  if (lockFile) v.lock = v.load(lockFile, LockFile, 'a mapping with `instructions:`')?.value;

  const org = loadOrgFiles(v, options);
  const yamlFiles = files.filter((file) => isYaml(file.path));
  const { servers, invalidServers } = loadServers(v, org, yamlFiles);
  const { models, scripts } = loadModels(v, org);
  const skills = loadSkills(v, files);
  const loadedAgents = loadAgents(v, yamlFiles);
  const agents = checkAgents(v, org, loadedAgents, {
    servers,
    invalidServers,
    models,
    // When models.yaml itself has problems, they are reported there, not again at every reference.
    modelsUnreadable: org.modelsFile !== undefined && org.models === undefined,
    modelsWhere: org.modelsWhere,
    skills,
    lockMode: options.ignoreLock === true,
  });
  checkSubagentAgents(v, loadedAgents);
  checkScripts(
    v,
    loadedAgents.map((agent) => agent.value.agent),
    scripts,
    servers,
  );
  checkBudgetReferences(v, org, loadedAgents, models);

  const problems = v.problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
  if (hasErrors(problems)) return { problems };
  return {
    problems,
    catalog: {
      agents,
      models,
      servers,
      skills,
      secrets: [...org.secretNames].sort(),
      budgets: org.budgets?.value ?? { budgets: [], limits: [] },
      guardrails: org.guardrails?.value.guardrails,
      sandboxPricing: org.models?.value.sandbox,
      skillsPolicy: org.skillsPolicy?.value,
    },
  };
}

/** The org-wide files at the root, loaded, and the checks of references to what they declare. */
interface OrgFiles {
  modelsFile: OrgFile | undefined;
  models: Loaded<typeof ModelsFile> | undefined;
  modelsWhere: string;
  budgets: Loaded<typeof BudgetsFile> | undefined;
  secretNames: Set<string>;
  guardrails: Loaded<typeof GuardrailsFile> | undefined;
  skillsPolicy: Loaded<typeof SkillsPolicyFile> | undefined;
  checkSecret: (parsed: ParsedYaml, path: PropertyKey[], name: string) => void;
  checkCustomRules: (parsed: ParsedYaml, base: PropertyKey[], policy: GuardrailPolicy | undefined) => void;
}

function loadOrgFiles(v: Validation, options: ValidateOptions): OrgFiles {
  const customRules = new Set(options.customRules ?? []);
  const checkCustomRules = (parsed: ParsedYaml, base: PropertyKey[], policy: GuardrailPolicy | undefined) => {
    policy?.custom.forEach((ref, index) => {
      if (!customRules.has(ref.rule)) {
        v.at(
          parsed,
          [...base, 'custom', index, 'rule'],
          `unknown custom guardrail rule "${ref.rule}" (${customRules.size > 0 ? `guardrails/rules.ts has: ${[...customRules].sort().join(', ')}` : 'guardrails/rules.ts registers none'})`,
        );
      }
    });
  };
  const modelsFile = v.file('models.yaml') ?? v.file('models.yml');
  const models = modelsFile ? v.load(modelsFile, ModelsFile, 'a mapping with `models:`') : undefined;
  const budgetsFile = v.file('budgets.yaml') ?? v.file('budgets.yml');
  const budgets = budgetsFile
    ? v.load(budgetsFile, BudgetsFile, 'a mapping with `budgets:` and/or `limits:`')
    : undefined;
  const secretsFile = v.file('secrets.yaml') ?? v.file('secrets.yml');
  const secrets = secretsFile ? v.load(secretsFile, SecretsFile, 'a mapping with `secrets:`') : undefined;
  const secretNames = new Set(Object.keys(secrets?.value.secrets ?? {}));
  const guardrailsFile = v.file('guardrails.yaml') ?? v.file('guardrails.yml');
  const guardrails = guardrailsFile
    ? v.load(guardrailsFile, GuardrailsFile, 'a mapping with `guardrails:`')
    : undefined;
  if (guardrails) checkCustomRules(guardrails.parsed, ['guardrails'], guardrails.value.guardrails);
  const secretsWhere = secretsFile ? secretsFile.display : 'secrets.yaml (missing)';
  const skillsPolicyFile = v.file(SKILLS_POLICY_FILE);
  const skillsPolicy = skillsPolicyFile
    ? v.load(skillsPolicyFile, SkillsPolicyFile, 'a mapping with `skills:` (skill name → owners)')
    : undefined;

  const checkSecret = (parsed: ParsedYaml, path: PropertyKey[], name: string) => {
    if (!secretNames.has(name))
      v.at(parsed, path, `unknown secret "${name}": declare it by name in ${secretsWhere} (never its value)`);
  };
  const modelsWhere = modelsFile ? modelsFile.display : 'models.yaml (missing)';
  return {
    modelsFile,
    models,
    modelsWhere,
    budgets,
    secretNames,
    guardrails,
    skillsPolicy,
    checkSecret,
    checkCustomRules,
  };
}

/** Servers. A server file with problems is still "declared": agents naming it get no second error. */
function loadServers(
  v: Validation,
  org: OrgFiles,
  yamlFiles: OrgFile[],
): Pick<AgentContext, 'servers' | 'invalidServers'> {
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
    else if (server.name !== stem)
      v.at(loaded.parsed, ['name'], `expected "${stem}": a server's name is its file's name`);
    else if (servers[server.name]) v.at(loaded.parsed, ['name'], `server "${server.name}" is declared twice`);
    else servers[server.name] = server;
    if (server.auth) org.checkSecret(loaded.parsed, ['auth', 'secret'], server.auth.secret);
    for (const [tool, flags] of Object.entries(server.tools)) {
      // Overrides are allowed, never silent: each is listed whenever definitions are checked.
      if (flags.override_annotations)
        v.at(
          loaded.parsed,
          ['tools', tool, 'override_annotations'],
          `overrides the server's annotations for ${tool}: ${flags.override_annotations}`,
          'warning',
        );
    }
    if (server.transport.type === 'stdio') {
      for (const [variable, secret] of Object.entries(server.transport.env_secrets)) {
        org.checkSecret(loaded.parsed, ['transport', 'env_secrets', variable], secret);
      }
    }
  }
  // looprail's own sandbox server, declared like any other so grants and checker rules apply to it unchanged.
  servers[SANDBOX_DECLARATION.name] = SANDBOX_DECLARATION;
  return { servers, invalidServers };
}

/** Models, and the scripts of scripted ones (as read, by model: their turns are checked against the agents that play them). */
function loadModels(
  v: Validation,
  org: OrgFiles,
): { models: Record<string, ModelEntry>; scripts: Map<string, Loaded<typeof ModelScript>> } {
  const models = org.models;
  const modelEntries: Record<string, ModelEntry> = {};
  const scripts = new Map<string, Loaded<typeof ModelScript>>();
  for (const [name, declaration] of Object.entries(models?.value.models ?? {})) {
    const entry: ModelEntry = { name, declaration };
    if ('secret' in declaration && declaration.secret)
      org.checkSecret(models!.parsed, ['models', name, 'secret'], declaration.secret);
    const profileHint = declaration.provider === 'bedrock' ? inferenceProfileHint(declaration.model_id) : undefined;
    if (profileHint) v.at(models!.parsed, ['models', name, 'model_id'], profileHint, 'warning');
    if (declaration.provider === 'scripted') {
      const scriptPath = posix.normalize(declaration.script);
      const scriptFile = v.file(scriptPath);
      if (!scriptFile) {
        v.at(models!.parsed, ['models', name, 'script'], `script "${declaration.script}" not found in the org folder`);
      } else {
        const script = v.load(scriptFile, ModelScript, 'a model script with `turns:`');
        if (script) {
          entry.script = script.value;
          scripts.set(name, script);
        }
      }
    }
    modelEntries[name] = entry;
  }
  return { models: modelEntries, scripts };
}

/** Claude 3.7 and every Claude from 4 on: Bedrock serves them on demand only through an inference profile. */
const PROFILE_ONLY_CLAUDE = /^anthropic\.claude-(?:3-7-|(?:sonnet|opus|haiku)-(?:[4-9]|\d{2,})\b|[4-9]-)/;

/** A bare foundation-model id Bedrock refuses on demand ("…with on-demand throughput isn't supported"). */
function inferenceProfileHint(modelId: string | undefined): string | undefined {
  if (!modelId || !PROFILE_ONLY_CLAUDE.test(modelId)) return undefined;
  return `Bedrock serves ${modelId} on demand only through an inference profile: use "us.${modelId}" (or the eu., apac., jp. or global. profile), or an inference profile ARN`;
}

function loadSkills(v: Validation, files: OrgFile[]): Record<string, SkillDoc> {
  const skills: Record<string, SkillDoc> = {};
  for (const file of files.filter((f) => /^skills\/[^/]+\/SKILL\.md$/.test(f.path))) {
    const skill = loadSkill(v, file);
    if (skill) skills[skill.name] = skill;
  }
  return skills;
}

function loadSkill(v: Validation, file: OrgFile): SkillDoc | undefined {
  const folder = file.path.split('/')[1]!;
  const { frontMatter, body } = splitFrontMatter(file.text);
  if (frontMatter === undefined) {
    v.add({
      file: file.display,
      line: 1,
      col: 1,
      path: '',
      message: 'expected front matter (--- name, description, version ---) at the top of SKILL.md',
    });
    return undefined;
  }
  // A leading newline stands for the opening `---`, so problems point at the file's own lines.
  const loaded = v.load(
    { ...file, text: `\n${frontMatter}` },
    SkillFrontMatter,
    'front matter with name, description and version',
  );
  if (!loaded) return undefined;
  if (loaded.value.name !== folder) {
    v.at(loaded.parsed, ['name'], `expected "${folder}": a skill's name is its folder's name`);
    return undefined;
  }
  return { ...loaded.value, content: body.trim(), sha256: sha256(file.text) };
}

interface LoadedAgent {
  file: OrgFile;
  parsed: ParsedYaml;
  value: Loaded<typeof AgentFile>['value'];
}

/** Agents: every other YAML file. */
function loadAgents(v: Validation, yamlFiles: OrgFile[]): LoadedAgent[] {
  const agentFiles = yamlFiles.filter(
    (file) =>
      !ORG_FILES.has(file.path.replace(/\.yml$/i, '.yaml')) && !/^(mcp-servers|scripts|skills)\//.test(file.path),
  );
  const loadedAgents: LoadedAgent[] = [];
  for (const file of agentFiles) {
    const loaded = v.load(file, AgentFile, 'an agent definition with a top-level `agent:` key');
    if (loaded) loadedAgents.push({ file, ...loaded });
  }
  return loadedAgents;
}

function checkAgents(
  v: Validation,
  org: OrgFiles,
  loadedAgents: LoadedAgent[],
  ctx: AgentContext,
): Record<string, AgentEntry> {
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
    const entry = checkAgent(v, parsed, file, spec, ctx);
    if (value.trigger?.webhook) {
      org.checkSecret(parsed, ['trigger', 'webhook', 'secret'], value.trigger.webhook.secret);
      for (const key of unknownFilterKeys(value.trigger.webhook.filter ?? {})) {
        v.at(
          parsed,
          ['trigger', 'webhook', 'filter', key],
          `unknown webhook filter "${key}"; expected ${WEBHOOK_FILTER_KEYS.join(', ')}`,
        );
      }
    }
    org.checkCustomRules(parsed, ['agent', 'guardrails'], spec.guardrails);
    if (!spec.owner && !spec.team) {
      v.at(parsed, ['agent', 'name'], 'no owner or team: the inventory will list this loop as unowned', 'warning');
    }
    if (entry) agents[spec.name] = { ...entry, trigger: value.trigger };
  }
  return agents;
}

/** Sub-agents that run another agent of the org: it must exist (it may be this agent: the depth limit stops the recursion). */
function checkSubagentAgents(v: Validation, loadedAgents: LoadedAgent[]): void {
  const agentNames = new Set(loadedAgents.map((a) => a.value.agent.name));
  for (const { parsed, value } of loadedAgents) {
    value.agent.subagents.forEach((sub, index) => {
      if (sub.agent !== undefined && !agentNames.has(sub.agent))
        v.at(
          parsed,
          ['agent', 'subagents', index, 'agent'],
          `unknown agent "${sub.agent}" (known: ${[...agentNames].sort().join(', ')})`,
        );
    });
  }
}

/** Budgets reference agents, teams and models. */
function checkBudgetReferences(
  v: Validation,
  org: OrgFiles,
  loadedAgents: LoadedAgent[],
  models: Record<string, ModelEntry>,
): void {
  const budgets = org.budgets;
  if (!budgets) return;
  const agentNames = new Set(loadedAgents.map((a) => a.value.agent.name));
  const teams = new Set(loadedAgents.map((a) => a.value.agent.team).filter((t): t is string => t !== undefined));
  budgets.value.budgets.forEach((budget, index) => {
    if (budget.agent && !agentNames.has(budget.agent))
      v.at(budgets.parsed, ['budgets', index, 'agent'], `unknown agent "${budget.agent}"`);
    if (budget.team && !teams.has(budget.team))
      v.at(budgets.parsed, ['budgets', index, 'team'], `unknown team "${budget.team}": no agent declares it`);
    if (budget.model && !models[budget.model])
      v.at(budgets.parsed, ['budgets', index, 'model'], `unknown model "${budget.model}" (not in ${org.modelsWhere})`);
  });
  budgets.value.limits.forEach((limit, index) => {
    if (!agentNames.has(limit.agent))
      v.at(budgets.parsed, ['limits', index, 'agent'], `unknown agent "${limit.agent}"`);
  });
}
