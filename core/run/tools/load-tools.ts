import type { ToolCallBlock } from '../../definitions/messages.ts';
import * as z from '../../definitions/zod.ts';
import { LOAD_TOOLS_TOOL_NAME } from '../deferred-tools.ts';
import type { RunDeps } from '../deps.ts';
import type { StartedRunState } from '../load.ts';
import { builtinTrace, inSnapshot, type BuiltinTool } from './builtin.ts';
import { builtinOutcome, type CallOutcome } from './outcome.ts';

const LoadToolsArguments = z.strictObject({
  server: z.string().check(z.minLength(1, 'expected a server name')),
  tools: z.optional(
    z
      .array(z.string().check(z.minLength(1)))
      .check(z.minLength(1, 'expected at least one tool name, or leave tools out')),
  ),
});

/** looprail__load_tools: validates the request against the run's grants; loads all of it or nothing. */
export const loadToolsTool: BuiltinTool = {
  name: LOAD_TOOLS_TOOL_NAME,
  offered: inSnapshot(LOAD_TOOLS_TOOL_NAME),
  call: (deps, state, call) => Promise.resolve(loadToolsCall(deps, state, call)),
};

function loadToolsCall(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): CallOutcome {
  const started = deps.clock.now();
  const { context, meta } = state;
  const outcome = (content: string, kind: 'builtin' | 'denied' | 'invalid', loadedTools?: string[]): CallOutcome => {
    const ok = kind === 'builtin';
    const detail = ok ? `loaded ${loadedTools!.length === 0 ? 'nothing new' : loadedTools!.join(', ')}` : content;
    const status = ok ? 'ok' : kind === 'denied' ? 'denied' : 'error';
    const trace = builtinTrace(deps, state, call, started, { tool: 'load_tools', status, detail });
    return builtinOutcome(kind, call, content, trace, loadedTools ? { loadedTools } : undefined);
  };
  const parsed = LoadToolsArguments.safeParse(call.arguments);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`)
      .join('; ');
    return outcome(`invalid arguments for ${LOAD_TOOLS_TOOL_NAME}, nothing was loaded: ${problems}`, 'invalid');
  }
  const deferred = context.deferredServers ?? [];
  const { server } = parsed.data;
  if (!deferred.includes(server)) {
    const granted = context.tools.some((tool) => tool.server === server && !tool.builtin);
    const reason = granted
      ? `${server}'s tools are already available: call them directly`
      : `"${server}" is not a server this agent may use (its servers to load from: ${deferred.join(', ')})`;
    return outcome(`${granted ? '' : 'refused: '}${reason}`, granted ? 'invalid' : 'denied');
  }
  const available = context.tools.filter((tool) => tool.server === server && !tool.builtin);
  const wanted = parsed.data.tools ?? available.map((tool) => tool.tool);
  const specs = wanted.map((name) => available.find((tool) => tool.tool === name || tool.name === name));
  const unknown = wanted.filter((_, index) => specs[index] === undefined);
  if (unknown.length > 0) {
    const named = unknown.map((name) => `"${name}"`).join(', ');
    const granted = available.map((tool) => tool.tool).join(', ');
    const are = unknown.length === 1 ? 'is' : 'are';
    const refused = `refused, nothing was loaded: ${named} ${are} not ${server} tools this agent may use`;
    return outcome(`${refused} (granted: ${granted})`, 'denied');
  }
  const already = new Set(meta.loadedTools ?? []);
  const added = [...new Set(specs.map((spec) => spec!.name))].filter((name) => !already.has(name));
  const names = specs.map((spec) => spec!.name);
  const others = added.length < names.length ? ' (the others were already loaded)' : '';
  const them = added.length === 1 ? 'it' : 'them';
  if (added.length === 0) return outcome(`already loaded: ${names.join(', ')}`, 'builtin', added);
  return outcome(`loaded ${added.join(', ')}: call ${them} from your next turn${others}`, 'builtin', added);
}
