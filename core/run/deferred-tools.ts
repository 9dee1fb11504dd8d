import type { AgentView, RunContext, ToolSpec } from '../definitions/context.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import type { RunMeta } from '../definitions/run.ts';

/**
 * Deferred tool loading: a deferred server's tool schemas stay out of the model's context
 * until it loads them with looprail__load_tools (tools/load-tools.ts). The model starts with each such server's
 * name, description and tool names (in that tool's description: a stable part of the
 * prompt prefix). Loaded tools are recorded on the run and appended in load order, so the
 * tool list only ever grows at its end and earlier requests' cached prefix stays valid.
 * Grants still decide: only tools already granted to the run (its snapshot) can be loaded.
 */

export const LOAD_TOOLS_TOOL_NAME = 'looprail__load_tools';

/** Which granted servers are deferred: the grant's switch, else the server's, else on. */
export function deferredServers(view: AgentView, tools: ToolSpec[]): string[] {
  return view.grants
    .filter(
      (grant) =>
        (grant.deferLoading ?? view.servers[grant.server]?.defer_loading ?? true) &&
        tools.some((tool) => tool.server === grant.server && !tool.builtin),
    )
    .map((grant) => grant.server);
}

/** The built-in loader, its description listing what each deferred server offers this run. */
export function loadToolsSpec(view: AgentView, tools: ToolSpec[], servers: string[]): ToolSpec {
  const lines = servers.map((server) => {
    const names = tools.filter((tool) => tool.server === server && !tool.builtin).map((tool) => tool.tool);
    const description = view.servers[server]?.description;
    return `- ${server}${description ? `: ${description}` : ''} (tools: ${names.join(', ')})`;
  });
  return {
    name: LOAD_TOOLS_TOOL_NAME,
    server: 'looprail',
    tool: 'load_tools',
    description:
      'Load tools before calling them: their schemas become available from your next turn and stay loaded. ' +
      'Load only what the task needs (name the tools; leave tools out to load every tool of the server). Servers:\n' +
      lines.join('\n'),
    inputSchema: {
      type: 'object',
      properties: {
        server: { type: 'string', enum: servers, description: 'the server to load tools from' },
        tools: {
          type: 'array',
          items: { type: 'string' },
          description: "tool names as listed (default: all of the server's tools)",
        },
      },
      required: ['server'],
      additionalProperties: false,
    },
    readOnly: true,
    destructive: false,
    requiresApproval: false,
    builtin: true,
  };
}

/** The snapshot's tools with deferral applied: what StartRun stores. */
export function withDeferral(view: AgentView, tools: ToolSpec[]): { tools: ToolSpec[]; deferredServers?: string[] } {
  const servers = deferredServers(view, tools);
  if (servers.length === 0) return { tools };
  return { tools: [loadToolsSpec(view, tools, servers), ...tools], deferredServers: servers };
}

/** What one model request is shown: built-ins and undeferred tools in snapshot order, loaded tools in load order, then `extra` (read_result). */
export function toolsShown(
  context: RunContext,
  meta: Pick<RunMeta, 'loadedTools'>,
  extra: ToolSpec[] = [],
): ToolSpec[] {
  const deferred = new Set(context.deferredServers ?? []);
  const base = context.tools.filter((tool) => tool.builtin || !deferred.has(tool.server));
  const loaded = (meta.loadedTools ?? [])
    .map((name) => context.tools.find((tool) => tool.name === name))
    .filter((tool): tool is ToolSpec => tool !== undefined);
  return [...base, ...loaded, ...extra];
}

/** A call to a granted tool the model has not loaded yet: the error that tells it how. */
export function notLoadedRefusal(
  context: RunContext,
  meta: Pick<RunMeta, 'loadedTools'>,
  call: ToolCallBlock,
): string | undefined {
  const spec = context.tools.find((tool) => tool.name === call.name && !tool.builtin);
  if (!spec || !(context.deferredServers ?? []).includes(spec.server) || (meta.loadedTools ?? []).includes(spec.name))
    return undefined;
  return `${call.name} is not loaded yet, so the call was not made: call ${LOAD_TOOLS_TOOL_NAME} with {"server":"${spec.server}","tools":["${spec.tool}"]} first, then call it again`;
}
