import { agentEntry } from '../definitions/catalog.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import type { RunMeta } from '../definitions/run.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { compileAgentView } from './agent-view.ts';
import type { RunDeps } from './deps.ts';
import { failRunStep, finishRunStep } from './finish-run.ts';
import { loadStartedRun } from './load.ts';
import { initializeRun } from './start-run.ts';
import { newRunMeta } from './request-run.ts';
import { StepWriter } from './step-writer.ts';
import { runCall } from './tools/governed-call.ts';
import type { CallOutcome } from './tools/outcome.ts';
import { chargeToolCosts } from './sandbox.ts';

/**
 * A tool session: an interactive agent (a person's laptop agent, pointed at the MCP
 * gateway endpoint) calling tools as a declared agent. It is recorded as a run — same
 * grants, flags, schema checks, side-effect claims and trace — whose steps are tool
 * calls instead of model turns.
 */

export async function openToolSession(
  deps: RunDeps,
  request: { agent: string; principal: string; client?: string },
): Promise<RunMeta> {
  const catalog = await deps.catalog();
  const entry = agentEntry(catalog, request.agent);
  if (!entry) throw new NotFoundError(`unknown agent "${request.agent}"`);
  if (!entry.spec.enabled) throw new ValidationError(`agent "${request.agent}" is paused (enabled: false)`);
  const meta = newRunMeta({
    runId: deps.ids.newId('s'),
    agent: request.agent,
    team: entry.spec.team,
    owner: entry.spec.owner,
    principal: request.principal,
    trigger: { kind: 'mcp', detail: request.client },
    input: {},
    createdAt: deps.clock.now().toISOString(),
  });
  const { meta: created } = await deps.store.createRun(meta);
  try {
    await initializeRun(deps, created, compileAgentView(catalog, request.agent), {
      role: 'user',
      content: [
        {
          type: 'text',
          text: `Interactive tool session${request.client ? ` from ${request.client}` : ''}, principal ${request.principal}.`,
        },
      ],
    });
  } catch (error) {
    // The session never opened (a server could not list its tools): record why, leave nothing queued.
    const failure = error as Error;
    await failRunStep(deps, { runId: created.runId, error: { Error: failure.name, Cause: failure.message } });
    throw error;
  }
  return (await deps.store.getRun(created.runId))!;
}

/** Runs one call and records it on the session (callers serialise calls of one session). */
export async function sessionToolCall(deps: RunDeps, sessionId: string, call: ToolCallBlock): Promise<CallOutcome> {
  const state = await loadStartedRun(deps, sessionId);
  if (state.meta.status !== 'running') throw new ValidationError(`tool session ${sessionId} is ${state.meta.status}`);
  const outcome = await runCall(deps, state, call);
  const writer = new StepWriter(state.meta);
  writer.addMessage({ role: 'assistant', content: [call] });
  writer.addMessage({ role: 'tool', content: [outcome.result] });
  writer.addTrace(outcome.trace);
  chargeToolCosts(writer, [outcome.trace], deps.clock.now());
  if (outcome.kind === 'executed') writer.meta.toolCalls += 1;
  await writer.commit(deps, 'tools', {}, 'throw');
  return outcome;
}

export async function closeToolSession(deps: RunDeps, sessionId: string): Promise<void> {
  const meta = await deps.store.getRun(sessionId);
  if (!meta || meta.status === 'finished' || meta.status === 'failed') return;
  const writer = new StepWriter(meta);
  writer.meta.pendingStop = { reason: 'completed', detail: 'the tool session ended' };
  const control = await writer.commit(deps, 'finish', {}, 'throw');
  await finishRunStep(deps, control);
}
