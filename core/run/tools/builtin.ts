import type { ToolCallBlock } from '../../definitions/messages.ts';
import type { NewTraceEvent } from '../../definitions/trace.ts';
import type { RunDeps } from '../deps.ts';
import { elapsedMs, type StartedRunState } from '../load.ts';
import type { CallOutcome } from './outcome.ts';

/**
 * One of looprail's own tools, answered inside the ToolStep rather than by a server. Each
 * lives in a file of its own and is listed in registry.ts; what it adds to the run record
 * travels in its outcome's patch, which the step merges (patch.ts).
 */
export interface BuiltinTool {
  /** The name the model calls it by (`looprail__…`). */
  readonly name: string;
  /** Whether this run offers it now: a call to one it does not offer goes the governed way (and is refused there). */
  offered(state: StartedRunState): boolean;
  /** One call; a refusal or a failure is an outcome the model reads, never a throw (a throw is a retried step). */
  call(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): Promise<CallOutcome>;
}

/** Offered when the run's tool snapshot lists it (StartRun put it there). */
export function inSnapshot(name: string): (state: StartedRunState) => boolean {
  return (state) => state.context.tools.some((tool) => tool.name === name);
}

type TraceExtras = 'kind' | 'name' | 'detail' | 'guardrails' | 'resultHandle';

/** The trace event of a looprail tool's call, from when it started to now. */
export function builtinTrace(
  deps: RunDeps,
  state: StartedRunState,
  call: ToolCallBlock,
  started: Date,
  fields: Pick<NewTraceEvent, 'tool' | 'status'> & Partial<Pick<NewTraceEvent, TraceExtras>>,
): NewTraceEvent {
  const ended = deps.clock.now();
  return {
    kind: 'tool_call',
    role: state.context.view.role,
    name: `looprail.${fields.tool}`,
    server: 'looprail',
    callId: call.id,
    startedAt: started.toISOString(),
    endedAt: ended.toISOString(),
    latencyMs: elapsedMs(started, ended),
    ...fields,
  };
}
