import { textOf, type ToolCallBlock } from '../../definitions/messages.ts';
import { runUsage, type RunMeta } from '../../definitions/run.ts';
import type { NewTraceEvent } from '../../definitions/trace.ts';
import { errorMessage } from '../../errors.ts';
import { DELEGATE_TOOL_NAME } from '../../loop/prompt.ts';
import { ENDED, prepareDelegation } from '../delegate.ts';
import type { RunDeps } from '../deps.ts';
import { elapsedMs, type StartedRunState } from '../load.ts';
import { inSnapshot, type BuiltinTool } from './builtin.ts';
import { answered, type CallOutcome } from './outcome.ts';

/**
 * looprail__delegate: the sub-agent's final answer is the result, and its usage is rolled
 * into the parent's `subagentUsage` (its cost was charged by the child's own steps). With
 * an in-process children port the child runs here; on AWS the ToolStep has handed each
 * child to the state machine first (core/run/delegate.ts: pendingDelegation).
 */
export const delegateTool: BuiltinTool = {
  name: DELEGATE_TOOL_NAME,
  offered: inSnapshot(DELEGATE_TOOL_NAME),
  call: (deps, state, call) => delegateCall(deps, state, call),
};

async function delegateCall(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): Promise<CallOutcome> {
  const { view } = state.context;
  const prepared = await prepareDelegation(deps, state, call);
  if ('refusal' in prepared) return prepared.refusal;
  const { childRunId, target, depth, child: existing } = prepared;
  // Handed to the Delegate state, the child started when it was recorded (an earlier ToolStep).
  const started = deps.children ? prepared.started : new Date(existing.createdAt);
  let child: RunMeta = existing;
  let failure: string | undefined;
  if (!ENDED.has(existing.status)) {
    if (deps.children) {
      try {
        await deps.children.runToEnd(childRunId);
      } catch (error) {
        failure = errorMessage(error);
      }
      child = (await deps.store.getRun(childRunId)) ?? existing;
    } else {
      // Its child execution came back (or could not start) without closing the run.
      const handedOver = state.meta.turn?.delegatedRuns?.includes(childRunId);
      failure = handedOver ? 'its execution ended without closing the run' : 'its execution was not started';
    }
  }
  const ended = deps.clock.now();
  const usage = runUsage(child);
  const childState = await deps.store.loadState(childRunId);
  const answer = [...(childState?.messages ?? [])].reverse().find((message) => message.role === 'assistant');
  const ok = child.stopReason === 'completed' || child.stopReason === 'verified';
  const outcomeText = child.stopReason
    ? `${child.stopReason}${child.stopDetail ? `: ${child.stopDetail}` : ''}`
    : `did not finish${failure ? `: ${failure}` : ''}`;
  const lastWords = answer ? ` Its last words:\n\n${textOf(answer)}` : '';
  const content = ok
    ? `${target.name} finished (${child.stopReason}). Its answer:\n\n${answer ? textOf(answer) : '(no final text)'}`
    : `${target.name} did not complete the task (${outcomeText}).${lastWords}`;
  const trace: NewTraceEvent = {
    kind: 'delegation',
    role: view.role,
    name: target.name,
    status: ok ? 'ok' : 'error',
    startedAt: started.toISOString(),
    endedAt: ended.toISOString(),
    latencyMs: elapsedMs(started, ended),
    ...usage,
    callId: call.id,
    childRunId,
    stopReason: child.stopReason,
    detail: `depth ${depth}${target.agent ? `, agent ${target.agent}` : ''}: ${outcomeText}`.slice(0, 2000),
  };
  return answered(call, content, trace, { subagentUsage: usage }, !ok);
}
