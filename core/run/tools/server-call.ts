import type { ToolSpec } from '../../definitions/context.ts';
import type { ToolCallBlock } from '../../definitions/messages.ts';
import type { McpServerDeclaration } from '../../definitions/org.ts';
import { callTimeoutSeconds } from '../../definitions/server-timeouts.ts';
import type { NewTraceEvent } from '../../definitions/trace.ts';
import { errorMessage, ToolTimeoutError, ToolUnavailableError } from '../../errors.ts';
import type { Verdict } from '../../guardrails/types.ts';
import type { ScriptBridge } from '../code-mode.ts';
import type { RunDeps } from '../deps.ts';
import { elapsedMs, type StartedRunState } from '../load.ts';
import { offloadResult, overCallThreshold } from '../offload.ts';
import { runTools } from '../sandbox.ts';
import { blockedReason, recorded, screenText } from '../screening.ts';
import { blocked, executed, innerCall, type CallOutcome } from './outcome.ts';

/**
 * The call itself, once the governed path has allowed it: the server's answer (or why
 * there is none) screened, then offloaded or cut, as the outcome the model reads.
 */

const READ_ONLY_ATTEMPTS = 2;

/** The longest one call to this server can take: its call timeout, twice for a read (tried again on a new process). */
export function longestCallSeconds(server: McpServerDeclaration, spec: Pick<ToolSpec, 'readOnly'>): number {
  return callTimeoutSeconds(server) * (spec.readOnly ? READ_ONLY_ATTEMPTS : 1);
}

export interface ServerCallOptions {
  /** Guardrail verdicts on the call's arguments, recorded with its result's. */
  inputVerdicts: Verdict[];
  /** Store a result over the per-call threshold with the run (the ToolStep), or cut it (the MCP gateway, scripts). */
  offload: boolean;
  /** Characters of the result kept when it is cut. */
  limit: number;
  /** run_code: the script's own calls come back through this bridge. */
  script?: ScriptBridge;
}

/** What the server said, or why it said nothing, and what a sandbox call recorded. */
interface Answer {
  content: string;
  isError: boolean;
  attempt: number;
  extra: Pick<NewTraceEvent, 'sandbox' | 'costMicros'>;
  sandboxCreatedAt?: string;
}

/** Calls the tool's server; a failure becomes a result the model can read. */
export async function callServer(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  spec: ToolSpec,
  options: ServerCallOptions,
): Promise<CallOutcome> {
  const started = deps.clock.now();
  const answer = await ask(deps, state, call, spec, options.script);
  const inner = options.script ? (await options.script.outcomes()).map(innerCall) : undefined;
  const sandboxPatch = answer.sandboxCreatedAt ? { sandboxCreatedAt: answer.sandboxCreatedAt } : undefined;
  const ended = deps.clock.now();
  // The result is screened before the model (or the store) sees it: it is untrusted input.
  const output = screenText(deps, state.context.view, answer.content, 'tool_output');
  const guardrails = recorded([...options.inputVerdicts, ...output.verdicts]);
  const { isError, extra } = answer;
  const traced = (fields: Pick<NewTraceEvent, 'status' | 'detail' | 'resultHandle'>) =>
    traceFor(state, call, spec, {
      startedAt: started.toISOString(),
      endedAt: ended.toISOString(),
      latencyMs: elapsedMs(started, ended),
      attempt: answer.attempt,
      guardrails,
      ...fields,
      ...extra,
    });
  const tool = `${spec.server}.${spec.tool}`;
  if (output.blocked) {
    const withheld = `the result of ${tool} was withheld: it was ${blockedReason(output.blocked)}`;
    const trace = traced({ status: 'denied', detail: withheld });
    return blocked(call, withheld, trace, true, { inner, patch: sandboxPatch });
  }
  const status = isError ? 'error' : 'ok';
  // Over the per-call threshold: stored with the run, and a preview with its handle goes to the model instead.
  const offloading = options.offload && overCallThreshold(state.context.view, output.text);
  const stored = offloading ? await offloadResult(deps, state, call.id, tool, output.text) : undefined;
  if (stored) {
    const trace = traced({ status, detail: stored.detail, resultHandle: stored.handle });
    const patch = { ...sandboxPatch, offloadedResults: [stored.handle] };
    return executed(call, stored.content, isError, trace, { inner, patch });
  }
  const clipped = clip(output.text, options.limit);
  const cut = clipped.length < output.text.length ? `result cut from ${output.text.length} characters` : undefined;
  const detail = extra.sandbox ? clipped.slice(0, 1000) : isError ? clipped.slice(0, 500) : cut;
  return executed(call, clipped, isError, traced({ status, detail }), { inner, patch: sandboxPatch });
}

/** The server's answer; only a read-only call is tried again (a write may have happened before the failure). */
async function ask(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  spec: ToolSpec,
  script: ScriptBridge | undefined,
): Promise<Answer> {
  const server = state.context.view.servers[spec.server]!;
  const timeoutSeconds = callTimeoutSeconds(server);
  for (let attempt = 1; ; attempt++) {
    try {
      const gateway = runTools(deps, state.context.view, state.meta, script?.bridge);
      const result = await gateway.callTool(server, spec.tool, call.arguments, { timeoutMs: timeoutSeconds * 1000 });
      const extra = result.sandbox ? { sandbox: result.sandbox, costMicros: result.costMicros } : {};
      const createdAt = result.sandboxCreatedAt ? { sandboxCreatedAt: result.sandboxCreatedAt } : {};
      return { content: result.content, isError: result.isError, attempt, extra, ...createdAt };
    } catch (error) {
      if (error instanceof ToolUnavailableError && spec.readOnly && attempt < READ_ONLY_ATTEMPTS) continue;
      const content =
        error instanceof ToolTimeoutError
          ? `the tool did not answer within ${timeoutSeconds} s`
          : error instanceof ToolUnavailableError && !spec.readOnly
            ? `the tool's server failed during the call; it may or may not have acted: ${errorMessage(error)}`
            : `the tool failed: ${errorMessage(error)}`;
      return { content, isError: true, attempt, extra: {} };
    }
  }
}

type TraceFields =
  | 'status'
  | 'startedAt'
  | 'endedAt'
  | 'latencyMs'
  | 'attempt'
  | 'detail'
  | 'guardrails'
  | 'sandbox'
  | 'costMicros'
  | 'resultHandle';

/** A governed call's trace event: named `server.tool`. */
export function traceFor(
  state: StartedRunState,
  call: ToolCallBlock,
  spec: ToolSpec,
  fields: Pick<NewTraceEvent, TraceFields>,
): NewTraceEvent {
  const { server, tool } = spec;
  const { role } = state.context.view;
  return { kind: 'tool_call', role, name: `${server}.${tool}`, server, tool, callId: call.id, ...fields };
}
/** A result cut to `limit` characters, with a marker saying how much is missing. */
export function clip(content: string, limit: number): string {
  if (content.length <= limit) return content;
  return `${content.slice(0, limit)}\n[… result cut: ${content.length - limit} more characters]`;
}
