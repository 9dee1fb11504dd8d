import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse } from 'yaml';
import { formatProblem, loadOrgFolder, type Problem } from '../../adapters/catalog/fs-loader.ts';
import { projectRootOf } from '../../adapters/catalog/project-root.ts';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { LOCK_FILE, lockEntries } from '../../core/definitions/lock-file.ts';
import { NAME_PATTERN } from '../../core/definitions/primitives.ts';
import type { SkillLockEntry } from '../../core/definitions/skills.ts';
import type { ToolDescriptor } from '../../core/ports/tools.ts';
import { lockFileText } from '../commands/lock.ts';
import { addModelLines } from './models-file.ts';
import { SERVER_TEMPLATES, type ServerTemplate } from './servers.ts';
import {
  agentText,
  instructionsText,
  namesOf,
  scriptText,
  scriptedModelLine,
  serverText,
  type AgentChoices,
  type AgentNames,
} from './texts.ts';

/**
 * `looprail new agent` (and the first agent of `looprail init`): everything is checked and every
 * file composed in memory, then validated with the org as it would be (the new instructions
 * locked with the same entries `looprail lock` records), and only then written. A mistake
 * (a name taken or malformed, a server unknown or not installed) writes nothing.
 */

export class ScaffoldError extends Error {}

/** Agent names leave room for the `-checker` and `scripted-…-checker` names made from them. */
export const MAX_AGENT_NAME = 40;

export interface AgentRequest {
  name: string;
  server: string;
  /** A model models.yaml declares; default: scripted models playing scripts written beside the agent. */
  model?: string;
  team?: string;
  owner: string;
  description?: string;
  stateDir: string;
}

export interface ScaffoldTarget {
  /** Where the org's files are read and checked (for init, a temporary folder beside the final one). */
  root: string;
  /** Where the org will be: paths the servers are given are relative to its project. */
  final: string;
  /** The org folder as the person named it, for messages. */
  display: string;
  /** Files not on disk yet (init's org files). */
  base: Record<string, string>;
  /** Write a lock file even when the org has none (init). */
  createLock: boolean;
}

/** The files to write, by path in the org folder, and what was chosen. */
export interface ScaffoldPlan {
  files: Record<string, string>;
  names: AgentNames;
  server: ServerTemplate;
  /** Whether the server's declaration is new (its tools listed from the server). */
  newServer: boolean;
}

export function checkAgentName(name: string): void {
  if (!NAME_PATTERN.test(name) || name.length > MAX_AGENT_NAME)
    throw new ScaffoldError(
      `agent name "${name}": expected lower-case letters, digits and hyphens, starting with a letter, at most ${MAX_AGENT_NAME} characters (e.g. ci-triage)`,
    );
}

export function serverTemplate(name: string): ServerTemplate {
  const template = SERVER_TEMPLATES[name];
  if (!template)
    throw new ScaffoldError(
      `unknown server "${name}": expected one of ${Object.keys(SERVER_TEMPLATES).join(', ')} (the reference MCP servers the demo runs)`,
    );
  return template;
}

export async function planAgent(target: ScaffoldTarget, request: AgentRequest): Promise<ScaffoldPlan> {
  checkAgentName(request.name);
  const server = serverTemplate(request.server);
  const names = namesOf(request.name);
  const current = await currentOrg(target);
  checkFree(target, current, names, request.model === undefined);
  const model = request.model ?? names.model;
  if (request.model !== undefined && !current?.models[request.model])
    throw new ScaffoldError(
      `unknown model "${request.model}": expected one models.yaml declares (${Object.keys(current?.models ?? {}).join(', ')}), or leave --model out for scripted models`,
    );
  const choices: AgentChoices = {
    names,
    server,
    description: request.description ?? `A first loop on the ${server.name} server, checked before it counts as done`,
    owner: request.owner,
    team: request.team ?? firstTeam(current) ?? 'my-team',
    model,
    checkerModel: request.model ?? names.checkerModel,
  };
  const task = server.task(request.name);
  const files: Record<string, string> = {
    [names.definition]: agentText(choices),
    [names.instructions]: instructionsText(task.instructions),
    [names.checkerInstructions]: instructionsText(task.checker),
  };
  if (request.model === undefined) {
    files[names.script] = scriptText(names.script, server.name, server.maker(request.name), 'maker');
    files[names.checkerScript] = scriptText(names.checkerScript, server.name, server.checker(request.name), 'checker');
    files['models.yaml'] = addModelLines(await modelsSource(target), [
      `# Agent ${names.agent} and its checker, played from ${names.script} and ${names.checkerScript}.`,
      scriptedModelLine(names.model, names.script),
      scriptedModelLine(names.checkerModel, names.checkerScript),
    ]);
  }
  const declared = current?.servers[server.name];
  if (declared) checkDeclares(server, Object.keys(declared.tools));
  else Object.assign(files, await serverFiles(target, server, request.stateDir));
  const lock = await lockText(target, files, names);
  if (lock !== undefined) files[LOCK_FILE] = lock;
  await checkValid(target, files);
  return { files, names, server, newServer: !declared };
}

/** The org as it is (with init's files not yet on disk), or undefined for a folder init is filling. */
async function currentOrg(target: ScaffoldTarget): Promise<Catalog | undefined> {
  if (Object.keys(target.base).length > 0) return undefined;
  if (!existsSync(join(target.root, 'models.yaml')))
    throw new ScaffoldError(
      `${target.display} is not an org folder (it has no models.yaml): create one with \`looprail init ${target.display}\`, or name one with --org`,
    );
  const { catalog, problems } = await loadOrgFolder(target.root);
  if (!catalog)
    throw new ScaffoldError(problemsText(problems, `${target.display} has problems of its own; fix them first`));
  return catalog;
}

function checkFree(target: ScaffoldTarget, current: Catalog | undefined, names: AgentNames, scripted: boolean): void {
  const existing = current?.agents[names.agent];
  if (existing)
    throw new ScaffoldError(`agent "${names.agent}" already exists (${existing.file}): choose another name`);
  const paths = [names.definition, names.instructions, names.checkerInstructions];
  if (scripted) paths.push(names.script, names.checkerScript);
  for (const path of paths)
    if (existsSync(join(target.root, path)))
      throw new ScaffoldError(
        `${join(target.display, path)} already exists: choose another agent name, or move that file`,
      );
  for (const model of scripted ? [names.model, names.checkerModel] : [])
    if (current?.models[model])
      throw new ScaffoldError(`model "${model}" already exists in models.yaml: choose another agent name`);
}

/** The team an org's agents belong to (the first one named), to offer as a new agent's. */
export async function orgTeam(org: string): Promise<string | undefined> {
  return firstTeam((await loadOrgFolder(org)).catalog);
}

function firstTeam(catalog: Catalog | undefined): string | undefined {
  return Object.values(catalog?.agents ?? {})
    .map((entry) => entry.spec.team)
    .find((team) => team !== undefined);
}

function checkDeclares(server: ServerTemplate, tools: string[]): void {
  const used = [
    ...server.maker('x').calls.map((call) => call.tool),
    ...server.checker('x').calls.map((call) => call.tool),
    ...server.checkerTools,
  ];
  const missing = [...new Set(used)].filter((tool) => !tools.includes(tool));
  if (missing.length > 0)
    throw new ScaffoldError(
      `mcp-servers/${server.name}.yaml does not declare ${missing.join(', ')}, which the new agent's scripts call: declare them there (looprail pin), or choose another server`,
    );
}

async function modelsSource(target: ScaffoldTarget): Promise<string> {
  return target.base['models.yaml'] ?? (await readFile(join(target.root, 'models.yaml'), 'utf8'));
}

/** The server's declaration, its tools listed by the server itself, and the folder it works in. */
async function serverFiles(
  target: ScaffoldTarget,
  server: ServerTemplate,
  stateDir: string,
): Promise<Record<string, string>> {
  const project = projectRootOf(target.final);
  if (!existsSync(join(project, 'node_modules', '.bin', server.command)))
    throw new ScaffoldError(
      `server "${server.name}" runs ${server.command}, from the npm package ${server.npmPackage}, which is not installed in ${project}: run \`npm install --save-dev ${server.npmPackage}\` there, or create the org inside the looprail project`,
    );
  const files: Record<string, string> = {};
  let args: string[] = [];
  if (server.folder) {
    const folder = join(target.final, server.folder.name);
    const fromProject = relative(project, folder);
    args = server.args(
      isAbsolute(fromProject) || fromProject.startsWith('..') ? folder : fromProject.split(sep).join('/'),
    );
    files[`${server.folder.name}/${server.folder.file}`] = server.folder.text;
  }
  const tools = await listTools(server, project, stateDir);
  checkDeclares(
    server,
    tools.map((tool) => tool.name),
  );
  files[`mcp-servers/${server.name}.yaml`] = serverText(server, args, tools);
  return files;
}

/** What the server offers, asked as `looprail pin` asks (a folder server is shown an empty folder of its own). */
async function listTools(server: ServerTemplate, projectRoot: string, stateDir: string): Promise<ToolDescriptor[]> {
  const scratch = await mkdtemp(join(tmpdir(), 'looprail-scaffold-'));
  const gateway = new McpToolGateway({
    secrets: new LocalSecretStore({}),
    projectRoot,
    stateDir: resolve(stateDir),
  });
  try {
    return await gateway.listTools({
      name: server.name,
      transport: {
        type: 'stdio',
        command: server.command,
        args: server.args(scratch),
        env: server.env,
        env_secrets: {},
      },
      timeouts: {},
      tools: {},
    });
  } catch (error) {
    throw new ScaffoldError(
      `server "${server.name}" (${server.command}) did not list its tools: ${(error as Error).message}`,
    );
  } finally {
    await gateway.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The lock file with the new instructions recorded as `looprail lock` records them. */
async function lockText(
  target: ScaffoldTarget,
  files: Record<string, string>,
  names: AgentNames,
): Promise<string | undefined> {
  const overlay = { ...target.base, ...files };
  delete overlay[LOCK_FILE];
  const { catalog, problems } = await loadOrgFolder(target.root, process.cwd(), { ignoreLock: true, overlay });
  if (!catalog) throw new ScaffoldError(problemsText(problems, 'the new agent would not validate'));
  const existing = await readFile(join(target.root, LOCK_FILE), 'utf8').then(
    (text) => (parse(text) ?? {}) as { instructions?: Record<string, string>; skills?: Record<string, SkillLockEntry> },
    () => undefined,
  );
  // An org without a lock file checks no instructions against one: adding one would fail all the others.
  if (!existing && !target.createLock) return undefined;
  const ours = new Set([names.instructions, names.checkerInstructions]);
  const added = Object.entries(lockEntries(catalog)).filter(([key]) => ours.has(key.slice(0, key.lastIndexOf('@'))));
  const instructions = Object.fromEntries(
    [...Object.entries(existing?.instructions ?? {}), ...added].sort(([a], [b]) => a.localeCompare(b)),
  );
  return lockFileText(instructions, existing?.skills ?? {});
}

/** The org with the new files, lock applied, must validate with no error and no warning in the new files. */
async function checkValid(target: ScaffoldTarget, files: Record<string, string>): Promise<void> {
  const overlay = { ...target.base, ...files };
  const { problems } = await loadOrgFolder(target.root, process.cwd(), { overlay });
  const ours = problems.filter(
    (problem) =>
      problem.severity === 'error' ||
      Object.keys(files).some((path) => problem.file === path || problem.file.endsWith(`${sep}${path}`)),
  );
  if (ours.length > 0) throw new ScaffoldError(problemsText(ours, 'the new agent would not validate'));
}

function problemsText(problems: Problem[], headline: string): string {
  return [`${headline} (nothing was written):`, ...problems.map((problem) => `  ${formatProblem(problem)}`)].join('\n');
}
