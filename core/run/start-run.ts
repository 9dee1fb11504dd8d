import type { AgentView, RunContext, ToolSpec } from '../definitions/context.ts';
import type { Message } from '../definitions/messages.ts';
import { TRIGGER_KINDS } from '../definitions/trigger-kinds.ts';
import type { Control, RunMeta } from '../definitions/run.ts';
import type { ToolDescriptor } from '../ports/tools.ts';
import {
  ConfigurationError,
  NotFoundError,
  ToolTimeoutError,
  ToolUnavailableError,
  ValidationError,
} from '../errors.ts';
import { delegateTool, SKILL_TOOLS, systemPrompt, taskMessage, VERDICT_TOOL } from '../loop/prompt.ts';
import { mountSkills } from './skills.ts';
import { LEDGER_TOOLS } from '../memory/tool-specs.ts';
import { withHandoffNote } from './handoff.ts';
import { visibleTools } from '../policy/visible-tools.ts';
import { compileAgentView, compileSubagentView } from './agent-view.ts';
import { withDeferral } from './deferred-tools.ts';
import { withCodeMode } from './code-mode.ts';
import { publish, type RunDeps } from './deps.ts';
import { runTools, type RunToolsDeps } from './sandbox.ts';
import { elapsedMs } from './load.ts';
import { replayedControl, StepWriter } from './step-writer.ts';
import { storedInputRefusal } from '../limits/json-shape.ts';
import { blockedReason, recorded, screenText } from './screening.ts';

/** What starting a run uses (checker runs too): its tools, the guardrails on its task, the clock and runtime events. */
export type InitializeRunDeps = RunToolsDeps & Pick<RunDeps, 'clock' | 'log' | 'events' | 'guardrailRules'>;

/** StartRun also reads the catalog (the only step that does) and the skills registry. */
export type StartRunDeps = InitializeRunDeps & Pick<RunDeps, 'catalog' | 'skills' | 'memory'>;

/** StartRun: snapshot the definition, discover the tools, assemble the prompt. */
export async function startRunStep(deps: StartRunDeps, input: { runId: string; resumeSeq?: number }): Promise<Control> {
  const meta = await deps.store.getRun(input.runId);
  if (!meta) throw new NotFoundError(`run ${input.runId} does not exist`);
  if (input.resumeSeq !== undefined) return resumedControl(meta, input.resumeSeq);
  const replay = replayedControl(meta, 0);
  if (replay) return replay;
  const catalog = await deps.catalog();
  // A delegated run of a declared sub-agent runs as that sub-agent; every other run as its agent.
  const compiled =
    meta.parentRunId && meta.subagent
      ? compileSubagentView(catalog, meta.agent, meta.subagent)
      : compileAgentView(catalog, meta.agent);
  const mounted = await mountSkills(deps, compiled);
  // A child that is another org agent counts against that agent's team and owner.
  const runMeta = meta.parentRunId ? { ...meta, team: mounted.view.team, owner: mounted.view.owner } : meta;
  // A run recorded with an input it cannot use (stored before inputs were limited) ends here, `error`.
  const refusal = mounted.refusal ?? storedInputRefusal(meta.input);
  // The last run's handoff note goes before the task (a loop with memory: only its own runs, not a delegated child's).
  const task = meta.parentRunId
    ? taskMessage(meta.input)
    : await withHandoffNote(deps, mounted.view, taskMessage(meta.input));
  return initializeRun(deps, runMeta, mounted.view, task, refusal);
}

/**
 * A continued execution (or a host restarted under a run) goes on from the last committed
 * step: the stored control says where, and nothing is written again.
 */
export function resumedControl(meta: RunMeta, resumeSeq: number): Control {
  if (meta.seq !== resumeSeq || !meta.lastControl) {
    throw new ValidationError(
      `run ${meta.runId} is at seq ${meta.seq}; the execution resuming it expected ${resumeSeq}: a second execution is driving it`,
    );
  }
  return meta.lastControl;
}

/** Shared by StartRun and by checker runs, which start from their parent's snapshot. */
export async function initializeRun(
  deps: InitializeRunDeps,
  meta: RunMeta,
  view: AgentView,
  firstMessage: Message,
  refusal?: string,
): Promise<Control> {
  const started = deps.clock.now();
  const offered = await discoverTools(deps, view, meta);
  const visibility = visibleTools(view, offered);
  let tools: ToolSpec[] = [
    ...visibility.tools,
    ...(view.skills.length > 0 ? SKILL_TOOLS : []),
    ...(view.delegates ? [delegateTool(view.delegates)] : []),
    ...(view.memory ? LEDGER_TOOLS : []),
  ];
  if (view.role === 'checker') {
    // Validation already refuses write tools for checkers; this keeps an old snapshot honest too.
    tools = [...tools.filter((tool) => tool.readOnly && !tool.destructive && !tool.requiresApproval), VERDICT_TOOL];
  }
  const context: RunContext = { view, systemPrompt: systemPrompt(view), ...withDeferral(view, withCodeMode(tools)) };
  const writer = new StepWriter(meta);
  writer.meta.status = 'running';
  writer.meta.startedAt = started.toISOString();
  writer.meta.agentVersion = view.version;
  if (view.skills.length > 0)
    writer.meta.skills = view.skills.map(({ name, version, sha256 }) => ({ name, version, sha256 }));
  // A webhook's body or an event is someone else's text: untrusted from the first message.
  if (TRIGGER_KINDS[meta.trigger.kind].untrustedInput) writer.meta.untrusted = true;
  writer.setContext(context);
  // The task is screened before any model sees it (or it is stored).
  const input = screenText(
    deps,
    view,
    firstMessage.content.map((block) => (block.type === 'text' ? block.text : '')).join('\n'),
    'model_input',
  );
  if (!input.blocked) writer.addMessage({ role: 'user', content: [{ type: 'text', text: input.text }] });
  else
    writer.meta.pendingStop = {
      reason: 'guardrail_blocked',
      detail: `the run's input was ${blockedReason(input.blocked)}`,
    };
  // A definition the run cannot honour (a pinned skill missing or tampered with) ends it before any model call.
  if (refusal) writer.meta.pendingStop = { reason: 'error', detail: refusal };
  const notes = [
    `${tools.length} tools visible`,
    visibility.changed.length > 0 ? `disabled, changed since pinned: ${visibility.changed.join(', ')}` : '',
    visibility.undeclared.length > 0 ? `denied until declared: ${visibility.undeclared.join(', ')}` : '',
    visibility.missing.length > 0 ? `declared but not offered by the server: ${visibility.missing.join(', ')}` : '',
    ...visibility.notes,
    context.deferredServers ? `loaded on demand: ${context.deferredServers.join(', ')}` : '',
  ].filter(Boolean);
  writer.addTrace({
    kind: 'run_started',
    role: view.role,
    name: view.subagent ?? view.agent,
    status: refusal ? 'error' : 'ok',
    startedAt: started.toISOString(),
    endedAt: deps.clock.now().toISOString(),
    latencyMs: elapsedMs(started, deps.clock.now()),
    model: view.model.name,
    provider: view.model.declaration.provider,
    scripted: view.model.declaration.provider === 'scripted' || undefined,
    detail: refusal ?? notes.join('; '),
    guardrails: recorded(input.verdicts),
  });
  const control = await writer.commit(deps, input.blocked || refusal ? 'finish' : 'model');
  if (meta.role === 'maker' && TRIGGER_KINDS[meta.trigger.kind].announced) {
    await publish(deps, {
      type: 'looprail.run.started',
      runId: meta.runId,
      agent: meta.agent,
      detail: { trigger: meta.trigger.kind, principal: meta.principal, agentVersion: view.version },
    });
  }
  return control;
}

async function discoverTools(
  deps: RunToolsDeps,
  view: AgentView,
  meta: RunMeta,
): Promise<Record<string, ToolDescriptor[]>> {
  const tools = runTools(deps, view, meta);
  const offered: Record<string, ToolDescriptor[]> = {};
  await Promise.all(
    view.grants.map(async (grant) => {
      const server = view.servers[grant.server];
      if (!server) throw new ConfigurationError(`server "${grant.server}" is not in the run's snapshot`);
      try {
        offered[grant.server] = await tools.listTools(server);
      } catch (error) {
        // Listing has no side effect: a server too slow to list (a busy host) is retried like one that is down.
        if (error instanceof ToolTimeoutError)
          throw new ToolUnavailableError(`${error.message} while StartRun listed its tools`);
        throw error;
      }
    }),
  );
  return offered;
}
