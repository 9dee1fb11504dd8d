import { DEFAULT_HARNESS } from '../definitions/harness.ts';
import { heldCallReason } from '../policy/verify-release.ts';
import { sha256 } from '../definitions/hash.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import type { RunMeta } from '../definitions/run.ts';
import type { RunDeps } from './deps.ts';
import type { StartedRunState } from './load.ts';
import { boundedRunId } from './ids.ts';
import { newRunMeta } from './request-run.ts';
import { refusal, type CallOutcome } from './tools/outcome.ts';

/**
 * Delegation: the maker hands a task to a declared sub-agent, which runs as a run of its
 * own (its own model, instructions, tools and identity, no access to the maker's
 * conversation), linked to its parent by parentRunId and depth. The child's cost is rolled
 * into the parent's `subagentUsage` (shown apart) and its final answer is the tool result.
 */

/**
 * One child run per delegating call, so a retried ToolStep finds the same child instead of
 * starting another: the parent's id plus a suffix, shortened with a hash where it would not
 * fit an execution name (core/run/ids.ts `boundedRunId`).
 */
export function delegateRunId(parentRunId: string, callId: string): string {
  return boundedRunId(`${parentRunId}-d${sha256(callId).slice(0, 8)}`);
}

/** A child run in one of these has nothing more to do. */
export const ENDED = new Set(['finished', 'failed']);

export type Prepared =
  | { refusal: CallOutcome }
  | {
      childRunId: string;
      target: NonNullable<StartedRunState['context']['view']['delegates']>[number];
      depth: number;
      child: RunMeta;
      started: Date;
    };

/** Checks a delegating call and records its child run (once: the id is the call's), or says why it is refused. */
export async function prepareDelegation(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): Promise<Prepared> {
  const { view } = state.context;
  const parent = state.meta;
  const started = deps.clock.now();
  const name = typeof call.arguments.agent === 'string' ? call.arguments.agent : '';
  const task = typeof call.arguments.task === 'string' ? call.arguments.task.trim() : '';
  const refuse = (reason: string): { refusal: CallOutcome } => ({
    refusal: refusal(view.role, call, reason, deps.clock.now(), `delegate ${name || '(no sub-agent named)'}`),
  });
  const target = view.delegates?.find((candidate) => candidate.name === name);
  if (!target)
    return refuse(
      `refused: "${name}" is not a sub-agent ${view.subagent ?? view.agent} declares (it may delegate to: ${view.delegates?.map((d) => d.name).join(', ') || 'none'})`,
    );
  if (task === '')
    return refuse(`refused: a delegation to "${name}" needs a task (the sub-agent does not see this conversation)`);
  const depth = (parent.depth ?? 0) + 1;
  const maxDepth = view.limits.maxDepth ?? DEFAULT_HARNESS.max_depth;
  if (depth > maxDepth)
    return refuse(
      `refused: delegating to "${name}" would start a run at depth ${depth}, past this agent's limit of ${maxDepth} (harness.max_depth)`,
    );

  // A sub-agent could change what verification passed (verify.release): not once it has.
  const frozen = heldCallReason(view.verify?.release, parent.verified !== undefined, {
    server: 'looprail',
    tool: 'delegate',
  });
  if (frozen) return refuse(frozen);

  const childRunId = delegateRunId(parent.runId, call.id);
  const { meta: child } = await deps.store.createRun(
    newRunMeta({
      runId: childRunId,
      // A sub-agent that is another org agent runs as that agent; a declared one as the parent's sub-agent.
      agent: target.agent ?? parent.agent,
      subagent: target.agent ? undefined : target.name,
      role: 'maker',
      team: parent.team,
      owner: parent.owner,
      principal: parent.principal,
      trigger: {
        kind: 'subagent',
        detail: `delegated by ${parent.runId} (${view.subagent ?? view.agent}) to ${target.name}`,
      },
      parentRunId: parent.runId,
      depth,
      input: { task },
      createdAt: started.toISOString(),
    }),
  );
  return { childRunId, target, depth, child, started };
}

/**
 * Without an in-process children port (on AWS), the state machine runs each sub-agent as a
 * child execution (the Delegate state, `states:startExecution.sync:2`): the first of this
 * turn's delegating calls whose child has not ended and was not handed over yet, recorded
 * here, or none when every child of the turn has had its execution.
 */
export async function pendingDelegation(
  deps: RunDeps,
  state: StartedRunState,
  calls: ToolCallBlock[],
): Promise<string | undefined> {
  if (deps.children) return undefined;
  for (const call of calls) {
    const prepared = await prepareDelegation(deps, state, call);
    if ('refusal' in prepared) continue;
    const handedOver = state.meta.turn?.delegatedRuns?.includes(prepared.childRunId);
    if (!ENDED.has(prepared.child.status) && !handedOver) return prepared.childRunId;
  }
  return undefined;
}
