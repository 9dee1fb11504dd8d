import { z } from 'zod';
import type { AgentView, RunContext, ToolSpec } from '../definitions/context.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import type { RunMeta } from '../definitions/run.ts';
import type { RunDeps } from './deps.ts';
import { elapsedMs, type StartedRunState } from './load.ts';
import type { CallOutcome } from './tool-step.ts';

/**
 * Deferred tool loading: a deferred server's tool schemas stay out of the model's context
 * until it loads them with looprail__load_tools. The model starts with each such server's
 * name, description and tool names (in that tool's description: a stable part of the
 * prompt prefix). Loaded tools are recorded on the run and appended in load order, so the
 * tool list only ever grows at its end and earlier requests' cached prefix stays valid.
 * Grants still decide: only tools already granted to the run (its snapshot) can be loaded.
 */

export const LOAD_TOOLS_TOOL_NAME = 'looprail__load_tools';

/** Which granted servers are deferred: the grant's switch, else the server's, else on. */
export function deferredServers(view: AgentView, tools: ToolSpec[]): string[] {
  return view.grants
    .filter((grant) => (grant.deferLoading ?? view.servers[grant.server]?.defer_loading ?? true) && tools.some((tool) => tool.server === grant.server && !tool.builtin))
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
        tools: { type: 'array', items: { type: 'string' }, description: 'tool names as listed (default: all of the server\'s tools)' },
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
export function toolsShown(context: RunContext, meta: Pick<RunMeta, 'loadedTools'>, extra: ToolSpec[] = []): ToolSpec[] {
  const deferred = new Set(context.deferredServers ?? []);
  const base = context.tools.filter((tool) => tool.builtin || !deferred.has(tool.server));
  const loaded = (meta.loadedTools ?? []).map((name) => context.tools.find((tool) => tool.name === name)).filter((tool): tool is ToolSpec => tool !== undefined);
  return [...base, ...loaded, ...extra];
}

/** A call to a granted tool the model has not loaded yet: the error that tells it how. */
export function notLoadedRefusal(context: RunContext, meta: Pick<RunMeta, 'loadedTools'>, call: ToolCallBlock): string | undefined {
  const spec = context.tools.find((tool) => tool.name === call.name && !tool.builtin);
  if (!spec || !(context.deferredServers ?? []).includes(spec.server) || (meta.loadedTools ?? []).includes(spec.name)) return undefined;
  return `${call.name} is not loaded yet, so the call was not made: call ${LOAD_TOOLS_TOOL_NAME} with {"server":"${spec.server}","tools":["${spec.tool}"]} first, then call it again`;
}

const LoadToolsArguments = z.strictObject({
  server: z.string().min(1, 'expected a server name'),
  tools: z.array(z.string().min(1)).min(1, 'expected at least one tool name, or leave tools out').optional(),
});

/** looprail__load_tools: validates the request against the run's grants; loads all of it or nothing. */
export function loadToolsCall(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): CallOutcome {
  const started = deps.clock.now();
  const { context, meta } = state;
  const outcome = (content: string, kind: CallOutcome['kind'], loadedTools?: string[]): CallOutcome => {
    const ended = deps.clock.now();
    const ok = kind === 'builtin';
    return {
      kind,
      loadedTools,
      result: { type: 'tool_result', callId: call.id, name: call.name, content, isError: !ok },
      trace: {
        kind: 'tool_call',
        role: context.view.role,
        name: 'looprail.load_tools',
        server: 'looprail',
        tool: 'load_tools',
        callId: call.id,
        status: ok ? 'ok' : kind === 'denied' ? 'denied' : 'error',
        startedAt: started.toISOString(),
        endedAt: ended.toISOString(),
        latencyMs: elapsedMs(started, ended),
        detail: ok ? `loaded ${loadedTools!.length === 0 ? 'nothing new' : loadedTools!.join(', ')}` : content,
      },
    };
  };
  const parsed = LoadToolsArguments.safeParse(call.arguments);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`).join('; ');
    return outcome(`invalid arguments for ${LOAD_TOOLS_TOOL_NAME}, nothing was loaded: ${problems}`, 'invalid');
  }
  const deferred = context.deferredServers ?? [];
  const { server } = parsed.data;
  if (!deferred.includes(server)) {
    const granted = context.tools.some((tool) => tool.server === server && !tool.builtin);
    const reason = granted ? `${server}'s tools are already available: call them directly` : `"${server}" is not a server this agent may use (its servers to load from: ${deferred.join(', ')})`;
    return outcome(`${granted ? '' : 'refused: '}${reason}`, granted ? 'invalid' : 'denied');
  }
  const available = context.tools.filter((tool) => tool.server === server && !tool.builtin);
  const wanted = parsed.data.tools ?? available.map((tool) => tool.tool);
  const specs = wanted.map((name) => available.find((tool) => tool.tool === name || tool.name === name));
  const unknown = wanted.filter((_, index) => specs[index] === undefined);
  if (unknown.length > 0) {
    return outcome(
      `refused, nothing was loaded: ${unknown.map((name) => `"${name}"`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not ${server} tools this agent may use (granted: ${available.map((tool) => tool.tool).join(', ')})`,
      'denied',
    );
  }
  const already = new Set(meta.loadedTools ?? []);
  const added = [...new Set(specs.map((spec) => spec!.name))].filter((name) => !already.has(name));
  const names = specs.map((spec) => spec!.name);
  return outcome(
    added.length > 0
      ? `loaded ${added.join(', ')}: call ${added.length === 1 ? 'it' : 'them'} from your next turn${added.length < names.length ? ' (the others were already loaded)' : ''}`
      : `already loaded: ${names.join(', ')}`,
    'builtin',
    added,
  );
}
