import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { budgetsText, modelsText, secretsText } from '../scaffold/org-texts.ts';
import { ask, interactive, type Question, type Terminal } from '../scaffold/prompts.ts';
import {
  checkAgentName,
  orgTeam,
  planAgent,
  ScaffoldError,
  serverTemplate,
  type AgentRequest,
  type ScaffoldPlan,
} from '../scaffold/scaffold.ts';
import { DEFAULT_SERVER, SERVER_TEMPLATES } from '../scaffold/servers.ts';
import { SCHEMAS_FOLDER } from '../scaffold/texts.ts';
import { writeAll } from '../scaffold/write.ts';
import { NAME_PATTERN } from '../../core/definitions/primitives.ts';

/**
 * `looprail init [folder]`: a new org folder (models, secrets, a budget, a first agent with its
 * checker, scripts, server and lock) that validates and runs at once. `looprail new agent
 * <name>`: one more agent in an org. Both ask on a terminal (Enter keeps each default) and
 * take flags otherwise; every check is made before anything is written.
 */

type Log = (line: string) => void;

export interface ScaffoldFlags {
  agent?: string;
  server?: string;
  model?: string;
  team?: string;
  owner?: string;
  description?: string;
  stateDir: string;
}

export interface ScaffoldIo {
  log: Log;
  /** Set when someone is at a terminal to answer questions. */
  terminal?: Terminal;
}

const DEFAULT_AGENT = 'hello';
const DEFAULT_TEAM = 'my-team';

export async function initCommand(folder: string, flags: ScaffoldFlags, io: ScaffoldIo): Promise<void> {
  const final = resolve(folder);
  await checkEmpty(folder, final);
  const answers = await questions(flags, io, { agent: flags.agent ?? DEFAULT_AGENT, team: DEFAULT_TEAM });
  const request = requestOf(answers, flags);
  // Named before anything is made: a mistake here leaves no folder behind.
  checkAgentName(request.name);
  serverTemplate(request.server);
  await mkdir(dirname(final), { recursive: true });
  const temp = await mkdtemp(join(dirname(final), `.${basename(final)}.init-`));
  try {
    const team = request.team ?? DEFAULT_TEAM;
    const base = { 'models.yaml': modelsText(), 'secrets.yaml': secretsText(), 'budgets.yaml': budgetsText(team) };
    const plan = await planAgent({ root: temp, final, display: folder, base, createLock: true }, { ...request, team });
    await writeAll(temp, { ...base, ...plan.files });
    if (existsSync(final)) await rmdir(final);
    await rename(temp, final);
    report(io.log, folder, plan, true);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

export async function newAgentCommand(
  name: string | undefined,
  flags: ScaffoldFlags & { org: string },
  io: ScaffoldIo,
): Promise<void> {
  if (name === undefined && !io.terminal)
    throw new ScaffoldError('an agent name is needed: looprail new agent <name> [--server <server>] [--org <folder>]');
  // On a terminal the team offered is the org's own.
  const team = flags.team ?? (io.terminal ? await orgTeam(flags.org) : undefined);
  const answers = await questions({ ...flags, agent: name }, io, { agent: name, team });
  const org = resolve(flags.org);
  const plan = await planAgent(
    { root: org, final: org, display: flags.org, base: {}, createLock: false },
    requestOf(answers, flags),
  );
  await writeAll(org, plan.files);
  report(io.log, flags.org, plan, false);
}

async function checkEmpty(folder: string, final: string): Promise<void> {
  const info = await stat(final).catch(() => undefined);
  if (!info) return;
  if (!info.isDirectory()) throw new ScaffoldError(`${folder} is a file: init makes a new org folder; name a new one`);
  if ((await readdir(final)).length > 0)
    throw new ScaffoldError(
      `${folder} is not empty: init makes a new org folder (e.g. \`looprail init my-org\`); add an agent to an existing one with \`looprail new agent <name> --org ${folder}\``,
    );
}

/** Flags win; on a terminal the rest is asked, each with its default; otherwise defaults are taken. */
async function questions(
  flags: ScaffoldFlags,
  io: ScaffoldIo,
  defaults: { agent?: string; team?: string },
): Promise<Record<string, string | undefined>> {
  const given: Record<string, string | undefined> = {
    agent: flags.agent,
    server: flags.server,
    team: flags.team,
    owner: flags.owner,
    description: flags.description,
  };
  const servers = Object.keys(SERVER_TEMPLATES).join(', ');
  const all: Question[] = [
    { key: 'agent', label: 'Agent name', default: defaults.agent, check: nameProblem },
    {
      key: 'server',
      label: `MCP server (${servers})`,
      default: DEFAULT_SERVER,
      check: (answer) => (SERVER_TEMPLATES[answer] ? undefined : `expected one of ${servers}`),
    },
    { key: 'team', label: 'Team', default: defaults.team ?? DEFAULT_TEAM, check: teamProblem },
    { key: 'owner', label: 'Owner (who answers for this loop)', default: defaultOwner() },
  ];
  const open = all.filter((question) => given[question.key] === undefined);
  if (!io.terminal || open.length === 0) return given;
  return { ...given, ...(await ask(open, io.terminal)) };
}

function nameProblem(answer: string): string | undefined {
  try {
    checkAgentName(answer);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function teamProblem(answer: string): string | undefined {
  return NAME_PATTERN.test(answer)
    ? undefined
    : 'expected lower-case letters, digits and hyphens, starting with a letter';
}

function requestOf(answers: Record<string, string | undefined>, flags: ScaffoldFlags): AgentRequest {
  return {
    name: answers.agent ?? DEFAULT_AGENT,
    server: answers.server ?? DEFAULT_SERVER,
    model: flags.model,
    team: answers.team,
    owner: answers.owner ?? defaultOwner(),
    description: answers.description,
    stateDir: flags.stateDir,
  };
}

/** The person's Git email, as commits name them; else their login here. */
function defaultOwner(): string {
  try {
    const email = execFileSync('git', ['config', 'user.email'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    if (email.trim()) return email.trim();
  } catch {
    // No Git, or no email configured.
  }
  return `${userInfo().username}@localhost`;
}

function report(log: Log, folder: string, plan: ScaffoldPlan, init: boolean): void {
  const org = relative(process.cwd(), resolve(folder)) || '.';
  const { names, server } = plan;
  log(
    init
      ? `✓ ${org}: a new org folder with agent ${names.agent}, checked by ${names.checker}, on the ${server.name} server`
      : `✓ agent ${names.agent}, checked by ${names.checker}, on the ${server.name} server`,
  );
  for (const path of Object.keys(plan.files).sort()) log(`  ${join(org, path)}`);
  if (plan.newServer)
    log(
      `  (${server.name}'s tools as the server listed them, each pinned; tools are loaded with looprail__load_tools)`,
    );
  log('');
  log('Next:');
  log(`  npx looprail validate ${org}`);
  log(`  npx looprail run ${names.agent} --org ${org}`);
  if (init)
    log(
      `  npx looprail schema --out ${join(org, SCHEMAS_FOLDER)}   # the JSON Schemas the files' yaml-language-server lines point at`,
    );
}

export function registerScaffoldCommands(program: Command, stateDirOption: Option): void {
  const terminal = (): Terminal | undefined =>
    interactive(process.stdin, process.stdout) ? { input: process.stdin, output: process.stdout } : undefined;
  const log = (line: string) => console.log(line);
  program
    .command('init')
    .description('make a new org folder: models, secrets, a budget and a first agent that validates and runs at once')
    .argument('[folder]', 'the new folder (missing or empty)', '.')
    .option('--agent <name>', `the first agent's name (default ${DEFAULT_AGENT})`)
    .option(
      '--server <name>',
      `its MCP server: ${Object.keys(SERVER_TEMPLATES).join(' or ')} (default ${DEFAULT_SERVER})`,
    )
    .option('--team <name>', `its team (default ${DEFAULT_TEAM})`)
    .option('--owner <owner>', 'who answers for it (default: your Git email)')
    .addOption(stateDirOption)
    .action((folder: string, flags: ScaffoldFlags) => initCommand(folder, flags, { log, terminal: terminal() }));
  program
    .command('new')
    .description('add to an org folder')
    .command('agent')
    .description(
      'add an agent: definition, locked instructions, scripted model, server declaration; asks on a terminal',
    )
    .argument('[name]', 'the agent name')
    .option(
      '--server <name>',
      `its MCP server: ${Object.keys(SERVER_TEMPLATES).join(' or ')} (default ${DEFAULT_SERVER})`,
    )
    .option('--model <name>', 'a model models.yaml declares (default: scripted models written beside it)')
    .option('--team <name>', "its team (default: the org's)")
    .option('--owner <owner>', 'who answers for it (default: your Git email)')
    .option('--description <text>', 'one line on what it does')
    .option('--org <dir>', 'the org folder', 'agents')
    .addOption(stateDirOption)
    .action((name: string | undefined, flags: ScaffoldFlags & { org: string }) =>
      newAgentCommand(name, flags, { log, terminal: terminal() }),
    );
}
