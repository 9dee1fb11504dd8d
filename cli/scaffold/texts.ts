import { posix } from 'node:path';
import { stringify } from 'yaml';
import { modelToolName } from '../../core/definitions/context.ts';
import type { ToolDescriptor } from '../../core/ports/tools.ts';
import { toolPin } from '../../core/policy/tool-pins.ts';
import { LOAD_TOOLS_TOOL_NAME } from '../../core/run/deferred-tools.ts';
import { VERDICT_TOOL_NAME } from '../../core/loop/prompt.ts';
import type { RolePlan, ServerTemplate } from './servers.ts';

/**
 * The texts of scaffolded files: commented so that a person reading one learns the format,
 * each YAML file opening with a yaml-language-server modeline that points at the JSON Schema
 * of its kind in the org's `.schemas/` (`looprail schema --out <org>/.schemas` writes them).
 */

export const SCHEMAS_FOLDER = '.schemas';
export type SchemaKind = 'agent' | 'mcp-server' | 'models' | 'budgets' | 'secrets' | 'script';

/** `# yaml-language-server: $schema=…` for a file at `path` in the org folder. */
export function modeline(path: string, kind: SchemaKind): string {
  const up = posix.relative(posix.dirname(path), '.') || '.';
  return `# yaml-language-server: $schema=${up}/${SCHEMAS_FOLDER}/${kind}.schema.json\n`;
}

export interface AgentNames {
  agent: string;
  checker: string;
  /** Paths in the org folder. */
  definition: string;
  instructions: string;
  checkerInstructions: string;
  script: string;
  checkerScript: string;
  /** Scripted models' names in models.yaml. */
  model: string;
  checkerModel: string;
}

export function namesOf(agent: string): AgentNames {
  return {
    agent,
    checker: `${agent}-checker`,
    definition: `${agent}.yaml`,
    instructions: `instructions/${agent}.md`,
    checkerInstructions: `instructions/${agent}-checker.md`,
    script: `scripts/${agent}.yaml`,
    checkerScript: `scripts/${agent}-checker.yaml`,
    model: `scripted-${agent}`,
    checkerModel: `scripted-${agent}-checker`,
  };
}

export interface AgentChoices {
  names: AgentNames;
  description: string;
  owner: string;
  team: string;
  server: ServerTemplate;
  /** The models maker and checker play: the scripted ones written beside them, or one models.yaml declares. */
  model: string;
  checkerModel: string;
}

export function agentText(choices: AgentChoices): string {
  const { names, server } = choices;
  const criteria = server.task(names.agent).criteria;
  return `${modeline(names.definition, 'agent')}# ${choices.description}
# Written by \`looprail new agent\`. Check it with \`looprail validate\`, run it with
# \`looprail run ${names.agent} --org <this folder>\`. A changed instructions file needs a new
# @version here and \`looprail lock\`.
agent:
  name: ${names.agent}
  description: ${JSON.stringify(choices.description)}
  owner: ${JSON.stringify(choices.owner)}
  team: ${choices.team}
  model: ${choices.model}   # by name, from models.yaml
  instructions: ./${names.instructions}@v1
  mcp_servers:                          # every tool mcp-servers/<name>.yaml declares; deferred: loaded with ${LOAD_TOOLS_TOOL_NAME}
    - ${server.name}
  subagents:
    - name: ${names.checker}
      role: checker                       # read-only tools only
      model: ${choices.checkerModel}
      instructions: ./${names.checkerInstructions}@v1
      mcp_servers:
        - name: ${server.name}
          allow: [${server.checkerTools.join(', ')}]
  harness:
    max_steps: 10
    max_cost_usd: 0.5
    max_duration: 10m
  verify:
    checker: ${names.checker}
    criteria: ${JSON.stringify(criteria)}
    max_attempts: 2
`;
}

export function instructionsText(body: string): string {
  return `---\nversion: v1\n---\n${body}\n`;
}

/** A scripted model's turns: load the tools it needs, call them, then answer (or give the verdict). */
export function scriptText(path: string, server: string, plan: RolePlan, role: 'maker' | 'checker'): string {
  const tools = [...new Set(plan.calls.map((call) => call.tool))];
  const turns: unknown[] = [
    {
      text: `Loading the ${server} tools this task needs.`,
      tool_calls: [{ tool: LOAD_TOOLS_TOOL_NAME, arguments: { server, tools } }],
    },
    {
      tool_calls: plan.calls.map((call) => ({ tool: modelToolName(server, call.tool), arguments: call.arguments })),
    },
    role === 'maker'
      ? { text: plan.text }
      : { tool_calls: [{ tool: VERDICT_TOOL_NAME, arguments: { pass: true, feedback: plan.text } }] },
  ];
  const what = role === 'maker' ? 'the maker' : 'the checker';
  return `${modeline(path, 'script')}# The turns a model would take as ${what}, played offline by the scripted provider.
# Tools are called as models call them, server__tool; ${server}'s tools are deferred, so the
# first turn loads them (${LOAD_TOOLS_TOOL_NAME}) and they can be called from the next.
# Switch the agent to a real model (models.yaml) and this file is no longer used.
${stringify({ description: `${what} (scripted)`, turns }, { lineWidth: 0 })}`;
}

/** A server declaration with every tool the server listed, flagged from its annotations and pinned as `looprail pin` pins. */
export function serverText(template: ServerTemplate, args: string[], tools: ToolDescriptor[]): string {
  const path = `mcp-servers/${template.name}.yaml`;
  const transport: Record<string, unknown> = { type: 'stdio', command: template.command };
  if (args.length > 0) transport.args = args;
  if (Object.keys(template.env).length > 0) transport.env = template.env;
  const lines = tools.map((tool) => {
    const flags: string[] = [];
    if (tool.annotations?.readOnlyHint === true) flags.push('read_only: true');
    else if (tool.annotations?.destructiveHint === true) flags.push('destructive: true');
    flags.push(`pin: ${toolPin(tool)}`);
    const note = flags[0] === 'destructive: true' ? '   # waits for a human in every agent' : '';
    return `  ${tool.name}: { ${flags.join(', ')} }${note}`;
  });
  return `${modeline(path, 'mcp-server')}# ${template.comment}
# ${template.npmPackage}: its tools as it listed them when this file was written, each with
# the hash \`looprail pin\` records (a tool that changes later is disabled until pinned again).
# A tool not listed here is denied to every agent; delete the ones this org does not want.
${stringify({ name: template.name, description: template.description, transport }, { lineWidth: 0 })}timeouts: { connect: 20s, call: 30s }
tools:
${lines.join('\n')}
`;
}

/** One models.yaml entry for a scripted model, as a line to add under `models:`. */
export function scriptedModelLine(name: string, script: string): string {
  return `${name}: { provider: scripted, script: ${script}, price: { input_per_mtok: 3, output_per_mtok: 15 } }`;
}
