import { toolCallsOf } from '../definitions/messages.ts';
import type { Control, StepInput } from '../definitions/run.ts';
import { DELEGATE_TOOL_NAME } from '../loop/prompt.ts';
import { pendingDelegation } from './delegate.ts';
import type { RunDeps } from './deps.ts';
import { loadStartedRun } from './load.ts';
import { replayedControl, StepWriter } from './step-writer.ts';
import { answerTurn } from './tool-turn.ts';
import { builtinFor } from './tools/registry.ts';

/**
 * ToolStep: run the last turn's tool calls that the agent may make, and persist every
 * result (tool-turn.ts). The ModelStep makes most turns itself (turnMaker); this step makes
 * the turns that reach the sandbox, a skill, a sub-agent or loop memory's writes, the turns an
 * approver decided, those that might outlast what the model call left of the ModelStep's time,
 * and a turn whose ModelStep crashed between its two commits.
 */
export async function toolStep(deps: RunDeps, input: StepInput): Promise<Control> {
  // Only the last turn's calls are run: the rest of a long conversation is not read. With the
  // control's message count, the record and that turn are one read by key.
  const state = await loadStartedRun(deps, input.runId, { lastMessages: 1, messageCount: input.messageCount });
  const replay = replayedControl(state.meta, input.seq);
  if (replay) return replay;
  const last = [...state.messages].reverse().find((message) => message.role === 'assistant');
  const calls = last ? toolCallsOf(last) : [];
  const limit = state.context.view.limits.maxToolCallsPerTurn;

  // No in-process children port: the state machine runs each sub-agent as a child execution
  // first (Delegate), one at a time, and this step comes back to write the whole turn's results.
  const delegating = calls.slice(0, limit).filter((call) => builtinFor(state, call.name)?.name === DELEGATE_TOOL_NAME);
  const handOver = await pendingDelegation(deps, state, delegating);
  if (handOver) {
    const writer = new StepWriter(state.meta);
    writer.meta.turn = { ...writer.meta.turn, delegatedRuns: [...(writer.meta.turn?.delegatedRuns ?? []), handOver] };
    return writer.commit(deps, 'delegate', { childRunId: handOver });
  }

  const writer = new StepWriter(state.meta);
  await answerTurn(deps, state, writer, calls);
  return writer.commit(deps, 'model');
}
