import type { ToolSpec } from '../definitions/context.ts';
import { modelToolName } from '../definitions/context.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import { SANDBOX_SERVER } from '../definitions/sandbox.ts';
import type { ScriptToolCall, ScriptToolResult, ToolBridge } from '../ports/sandbox.ts';
import { RUN_CODE_DESCRIPTION, RUN_CODE_TOOL } from '../sandbox/tools.ts';
import type { StartedRunState } from './load.ts';
import type { CallOutcome } from './tools/outcome.ts';
import { limiter } from './concurrency.ts';

/**
 * Code mode (programmatic tool calling): the model writes one program, run in the run's
 * sandbox, that calls several tools and prints only what matters. Each call the program
 * makes leaves the sandbox over its pipes and comes back here, where it is one more call
 * of the step: grants, schema, guardrails, rate limits, side-effect claims, tracing and
 * costs apply exactly as to a call the model made. The sandbox never holds a credential
 * or reaches a server; it only asks.
 *
 * What differs: a call that needs a human approval is refused (a script cannot wait days
 * for one; the model makes that call directly), looprail's own tools and the sandbox's
 * are not callable from a script (it already runs in the sandbox), and once a script has
 * read a tool's result the run counts as holding untrusted content for its later writes.
 */

/** A script's calls run a few at a time, like a turn's. */
const PARALLEL_SCRIPT_CALLS = 4;

export function isRunCode(spec: Pick<ToolSpec, 'server' | 'tool' | 'builtin'>): boolean {
  return spec.server === SANDBOX_SERVER && spec.tool === RUN_CODE_TOOL && !spec.builtin;
}

/** The tools a script may call: every granted server tool but the sandbox's own. */
export function callableFromCode(tools: ToolSpec[]): ToolSpec[] {
  return tools.filter((tool) => !tool.builtin && tool.server !== SANDBOX_SERVER);
}

/**
 * StartRun: run_code's description names the tools its scripts may call (deferred ones
 * included: loading only saves context, and a script's calls never enter it). Stable for
 * the run, so it stays in the cached prefix.
 */
export function withCodeMode(tools: ToolSpec[]): ToolSpec[] {
  const callable = callableFromCode(tools);
  return tools.map((tool) => {
    if (!isRunCode(tool)) return tool;
    const list =
      callable.length === 0
        ? 'No other tool is granted to this run, so scripts can only compute.'
        : `Tools a script may call:\n${callable.map((each) => `- ${each.server}.${each.tool}${each.readOnly ? ' (read-only)' : ''}`).join('\n')}`;
    return { ...tool, description: `${RUN_CODE_DESCRIPTION}\n${list}` };
  });
}

/** A call as the gateway runs it: runCall in tools/governed-call.ts, passed in (it calls back here for run_code). */
export type GovernedCall = (
  state: StartedRunState,
  call: ToolCallBlock,
  options: { codeMode: true },
) => Promise<CallOutcome>;
/** A refusal recorded like any other (`tool_denied` on the trace). */
export type RefusedCall = (state: StartedRunState, call: ToolCallBlock, reason: string) => Promise<CallOutcome>;

export interface ScriptBridge {
  bridge: ToolBridge;
  /**
   * Every call the script asked for, in the order it asked, once all have ended (a script
   * killed mid-call leaves its call running to its end here): each is traced and counted
   * by the step.
   */
  outcomes(): Promise<CallOutcome[]>;
}

/**
 * The bridge for one run_code call. Inner calls get ids `<run_code call id>.<n>`, stable
 * across a retried step, so their side-effect claims replay like any call's.
 */
export function scriptBridge(
  state: StartedRunState,
  outer: ToolCallBlock,
  maxCalls: number,
  governed: GovernedCall,
  refused: RefusedCall,
): ScriptBridge {
  const calls: Array<Promise<CallOutcome>> = [];
  // A script that has read a result may pass it on: its later writes count as after untrusted content.
  const scriptState: StartedRunState = { ...state, meta: { ...state.meta } };
  let asked = 0;
  const limited = limiter(PARALLEL_SCRIPT_CALLS);

  const run = async (call: ToolCallBlock, name: string, over: boolean): Promise<CallOutcome> => {
    if (over)
      return refused(
        scriptState,
        call,
        `refused: this script has made ${maxCalls} tool calls, the sandbox's max_script_tool_calls`,
      );
    if (sandboxTool(state, call.name)) {
      return refused(
        scriptState,
        call,
        `refused: ${name} is the sandbox's own tool, and the script already runs in the sandbox: use the file system and child_process from the script instead`,
      );
    }
    const outcome = await limited(() => governed(scriptState, call, { codeMode: true }));
    if (outcome.kind === 'executed') scriptState.meta.untrusted = true;
    return outcome;
  };

  const bridge: ToolBridge = async (request: ScriptToolCall): Promise<ScriptToolResult> => {
    asked += 1;
    const call: ToolCallBlock = {
      type: 'tool_call',
      id: `${outer.id}.${asked}`,
      name: resolveName(state, request.name),
      arguments: request.arguments,
    };
    const pending = run(call, request.name, asked > maxCalls);
    calls.push(pending);
    const outcome = await pending;
    return { content: outcome.result.content, isError: outcome.result.isError === true };
  };
  return { bridge, outcomes: () => Promise.all(calls) };
}

/** `server.tool` (as scripts name tools) or `server__tool` (as the model sees them) → the run's tool name. */
function resolveName(state: StartedRunState, name: string): string {
  const dot = name.indexOf('.');
  if (dot > 0) {
    const server = name.slice(0, dot);
    const tool = name.slice(dot + 1);
    const spec = state.context.tools.find((each) => each.server === server && each.tool === tool && !each.builtin);
    return spec?.name ?? modelToolName(server, tool);
  }
  return name;
}

function sandboxTool(state: StartedRunState, name: string): boolean {
  return state.context.tools.some((tool) => tool.name === name && tool.server === SANDBOX_SERVER);
}
