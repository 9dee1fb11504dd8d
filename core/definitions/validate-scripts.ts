import type { AgentSpec } from './agent.ts';
import { LEDGER_LIST_TOOL_NAME, LEDGER_TOOLS } from '../memory/tool-specs.ts';
import { callableToolName, modelToolName, peopleToolName, TOOL_NAME_SEPARATOR } from './context.ts';
import type { Loaded, Validation } from './org-validation.ts';
import type { McpServerDeclaration, ModelScript } from './org.ts';
import { grantAllows, normalizeGrant } from '../policy/grants.ts';
import {
  DELEGATE_TOOL_NAME,
  LOAD_SKILL_TOOL_NAME,
  READ_SKILL_FILE_TOOL_NAME,
  VERDICT_TOOL_NAME,
} from '../loop/prompt.ts';
import { LOAD_TOOLS_TOOL_NAME } from '../run/deferred-tools.ts';

/**
 * A scripted model's turns checked against each agent that plays them: every call must name
 * a tool the agent is granted (as `server.tool` or `server__tool`), and a tool of a deferred
 * server must have been loaded (looprail__load_tools) in an earlier turn. Otherwise the run
 * would refuse the call, and a person writing a first script would find out three runs later.
 * Warnings, not errors: a test script may mean a call to be refused (and a script shared by
 * agents with different grants is played by each in its own way); `looprail run` shows them too.
 */

/** Offered whenever a result was set aside for being long: not known before the run. */
const READ_RESULT_TOOL_NAME = 'looprail__read_result';
const BUILTIN_PREFIX = `looprail${TOOL_NAME_SEPARATOR}`;

/** One role that plays a script: an agent's maker, or one of its inline sub-agents. */
interface Player {
  /** As messages name it: `agent "x"` or `sub-agent "y" of agent "x"`. */
  who: string;
  models: string[];
  grants: AgentSpec['mcp_servers'];
  builtins: Set<string>;
}

interface GrantedTool {
  server: string;
  tool: string;
  deferred: boolean;
}

/** What one player would have refused, before findings of several players are merged. */
interface Finding {
  script: Loaded<typeof ModelScript>;
  path: PropertyKey[];
  message: string;
  who: string;
}

export function checkScripts(
  v: Validation,
  agents: AgentSpec[],
  scripts: Map<string, Loaded<typeof ModelScript>>,
  servers: Record<string, McpServerDeclaration>,
): void {
  const findings: Finding[] = [];
  for (const spec of agents) {
    for (const player of playersOf(spec)) {
      for (const model of new Set(player.models)) {
        const script = scripts.get(model);
        if (script) findings.push(...checkScript(script, player, servers));
      }
    }
  }
  // One line per call and problem, naming every agent that plays it the same way.
  const merged = new Map<string, Finding & { whos: string[] }>();
  for (const finding of findings) {
    const key = JSON.stringify([finding.script.parsed.file, finding.path, finding.message]);
    const seen = merged.get(key);
    if (seen) seen.whos.push(finding.who);
    else merged.set(key, { ...finding, whos: [finding.who] });
  }
  for (const { script, path, message, whos } of merged.values())
    v.at(script.parsed, path, `${whos.join(', ')}: ${message}`, 'warning');
}

function playersOf(spec: AgentSpec): Player[] {
  const delegates = spec.subagents.some((sub) => sub.role !== 'checker' && sub.name !== spec.verify?.checker);
  const maker: Player = {
    who: `agent "${spec.name}"`,
    models: [spec.model, ...(spec.fallback_model ? [spec.fallback_model] : [])],
    grants: spec.mcp_servers,
    builtins: new Set([
      READ_RESULT_TOOL_NAME,
      ...(delegates ? [DELEGATE_TOOL_NAME] : []),
      ...(spec.skills.length > 0 ? [LOAD_SKILL_TOOL_NAME, READ_SKILL_FILE_TOOL_NAME] : []),
      ...(spec.memory ? LEDGER_TOOLS.map((tool) => tool.name) : []),
    ]),
  };
  // A sub-agent that runs another org agent plays that agent's definition, checked there; one
  // without a model of its own would replay the maker's script, which is written for the maker.
  const subs = spec.subagents
    .filter((sub) => sub.agent === undefined && sub.model !== undefined)
    .map((sub): Player => {
      const checker = sub.role === 'checker' || (sub.role === undefined && spec.verify?.checker === sub.name);
      return {
        who: `sub-agent "${sub.name}" of agent "${spec.name}"`,
        models: [sub.model!],
        grants: sub.mcp_servers,
        builtins: new Set([
          READ_RESULT_TOOL_NAME,
          ...(checker ? [VERDICT_TOOL_NAME] : []),
          ...(checker && spec.memory ? [LEDGER_LIST_TOOL_NAME] : []),
        ]),
      };
    });
  return [maker, ...subs];
}

function grantedOf(player: Player, servers: Record<string, McpServerDeclaration>): GrantedTool[] {
  return player.grants.flatMap((input) => {
    const grant = normalizeGrant(input);
    const server = servers[grant.server];
    if (!server) return [];
    const deferred = grant.deferLoading ?? server.defer_loading ?? true;
    return Object.keys(server.tools)
      .filter((tool) => grantAllows(grant, tool))
      .map((tool) => ({ server: grant.server, tool, deferred }));
  });
}

/** Both names a tool goes by: what people read (`server.tool`) and what models call (`server__tool`). */
function named(tool: { server: string; tool: string }, name: string): boolean {
  return name === peopleToolName(tool.server, tool.tool) || name === modelToolName(tool.server, tool.tool);
}

function checkScript(
  script: Loaded<typeof ModelScript>,
  player: Player,
  servers: Record<string, McpServerDeclaration>,
): Finding[] {
  const findings: Finding[] = [];
  const granted = grantedOf(player, servers);
  const builtins = new Set(player.builtins);
  if (granted.some((tool) => tool.deferred)) builtins.add(LOAD_TOOLS_TOOL_NAME);
  const loaded = new Set<GrantedTool>();
  script.value.turns.forEach((turn, turnIndex) => {
    const loadedThisTurn: GrantedTool[] = [];
    turn.tool_calls.forEach((call, callIndex) => {
      const path = ['turns', turnIndex, 'tool_calls', callIndex, 'tool'];
      const at = (message: string) => findings.push({ script, path, message, who: player.who });
      const name = callableToolName(call.tool);
      if (name === LOAD_TOOLS_TOOL_NAME && builtins.has(name))
        loadedThisTurn.push(...loadRequest(call.arguments, granted, at));
      else {
        const problem = callProblem(call.tool, { granted, builtins, loaded, servers, turn: turnIndex + 1 });
        if (problem) at(problem);
      }
    });
    // A load takes effect from the next turn: the model sees the schemas only then.
    for (const tool of loadedThisTurn) loaded.add(tool);
  });
  return findings;
}

interface CallScope {
  granted: GrantedTool[];
  builtins: Set<string>;
  loaded: Set<GrantedTool>;
  servers: Record<string, McpServerDeclaration>;
  turn: number;
}

/** Why the run would refuse a scripted call, or nothing when it would make it. */
function callProblem(written: string, scope: CallScope): string | undefined {
  const name = callableToolName(written);
  if (scope.builtins.has(name)) return undefined;
  if (name.startsWith(BUILTIN_PREFIX))
    return `"${written}" is not a built-in this role is offered (it has: ${[...scope.builtins].sort().join(', ')})`;
  const tool = scope.granted.find((each) => named(each, written));
  if (!tool) return notGrantedMessage(written, scope.granted, scope.servers);
  if (!tool.deferred || scope.loaded.has(tool)) return undefined;
  const load = JSON.stringify({ server: tool.server, tools: [tool.tool] });
  return `${peopleToolName(tool.server, tool.tool)} is not loaded yet at turn ${scope.turn} (${tool.server} defers its tools), so the run would refuse the call: call ${LOAD_TOOLS_TOOL_NAME} with ${load} in an earlier turn, or set defer_loading: false on the grant`;
}

/** What a looprail__load_tools call loads; a server or tool the player may not use is a problem. */
function loadRequest(
  args: Record<string, unknown>,
  granted: GrantedTool[],
  at: (message: string) => void,
): GrantedTool[] {
  const server = typeof args.server === 'string' ? args.server : undefined;
  const onServer = granted.filter((tool) => tool.server === server && tool.deferred);
  if (onServer.length === 0) {
    const deferred = [...new Set(granted.filter((tool) => tool.deferred).map((tool) => tool.server))];
    at(`${LOAD_TOOLS_TOOL_NAME} needs arguments.server, one of its deferred servers: ${deferred.join(', ')}`);
    return [];
  }
  if (!Array.isArray(args.tools)) return onServer;
  const wanted = args.tools.filter((name): name is string => typeof name === 'string');
  const unknown = wanted.filter((name) => !onServer.some((tool) => tool.tool === name || named(tool, name)));
  if (unknown.length > 0)
    at(
      `${LOAD_TOOLS_TOOL_NAME} names ${unknown.map((name) => `"${name}"`).join(', ')}, not granted on ${server} (granted: ${onServer.map((tool) => tool.tool).join(', ')})`,
    );
  return onServer.filter((tool) => wanted.some((name) => tool.tool === name || named(tool, name)));
}

function notGrantedMessage(
  name: string,
  granted: GrantedTool[],
  servers: Record<string, McpServerDeclaration>,
): string {
  const names = granted.map((tool) => peopleToolName(tool.server, tool.tool));
  const grantedNames = names.length > 0 ? `one of: ${names.join(', ')}` : 'none: it is granted no tools';
  const declared = Object.entries(servers).flatMap(([server, declaration]) =>
    Object.keys(declaration.tools).map((tool) => ({ server, tool })),
  );
  const match = declared.find((tool) => named(tool, name));
  if (match) {
    const server = match.server;
    return `${peopleToolName(server, match.tool)} is not granted, so the run would refuse the call: add ${server} to mcp_servers (or ${match.tool} to its allow list), or call ${grantedNames}`;
  }
  const serverPart = name.includes(TOOL_NAME_SEPARATOR) ? name.split(TOOL_NAME_SEPARATOR)[0]! : name.split('.')[0]!;
  const server = servers[serverPart];
  if (server && serverPart !== name)
    return `"${name}" is not a tool of ${serverPart} (mcp-servers/${serverPart}.yaml declares: ${Object.keys(server.tools).join(', ')})`;
  return `"${name}" is not a tool this agent may use: expected server.tool (or server__tool) of a granted tool, ${grantedNames}`;
}
