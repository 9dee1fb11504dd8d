import { Message, type TextBlock, type ToolCallBlock } from '../definitions/messages.ts';
import { Role, TriggerInfo } from '../definitions/run.ts';
import { TraceEvent } from '../definitions/trace.ts';
import * as z from '../definitions/zod.ts';
import { ConfigurationError } from '../errors.ts';
import { canonicalJson } from '../definitions/hash.ts';
import type { ModelRequest, ModelResponse } from '../ports/models.ts';
import type { ToolCallResult } from '../ports/tools.ts';

/**
 * Replay: a recorded run played again under a (changed) definition, calling no model and no
 * tool. The recorded model turns are answered by role and call number (a checker's across its
 * attempts, as the runtime numbers them); the recorded tool results are answered by call
 * (server, tool and arguments, in order); everything the runtime decides is decided again.
 * The report is the first decision that differs: nothing recorded exists past it
 * (docs/architecture.md, "Reviewing a change").
 */

/** One recorded run (the maker's, or a checker's) as the store holds it. */
export const RecordedRun = z.object({
  runId: z.string().check(z.minLength(1)),
  role: Role,
  messages: z.array(Message),
  trace: z.array(TraceEvent),
  /** Full results of calls whose result was offloaded, by call id. */
  offloaded: z.optional(z.record(z.string(), z.string())),
});
export type RecordedRun = z.infer<typeof RecordedRun>;

/** The format `looprail export` writes; a file with a higher number comes from a newer looprail. */
export const EXPORT_FORMAT = 1;

/** A run and its checker runs as `looprail export` writes them: what a replay needs, and nothing else. */
export const ExportedRun = z.object({
  looprail_export: z.literal(
    EXPORT_FORMAT,
    `expected a file written by looprail export (looprail_export: ${EXPORT_FORMAT})`,
  ),
  runId: z.string().check(z.minLength(1)),
  agent: z.string().check(z.minLength(1)),
  input: z.unknown(),
  principal: z.string(),
  trigger: TriggerInfo,
  /** The maker's run first, then each checker run in the order it ran. */
  runs: z.array(RecordedRun).check(z.minLength(1)),
});
export type ExportedRun = z.infer<typeof ExportedRun>;

/** The recorded decisions of an exported run, its checker runs' in place. */
export function recordedDecisions(exported: ExportedRun): Decision[] {
  const [maker, ...checkers] = exported.runs;
  return decisionsOf(maker!.trace, new Map(checkers.map((run) => [run.runId, run.trace])));
}

export class Recording {
  /** By role, every recorded turn in order: a checker's calls are numbered across its attempts, as the runtime numbers them. */
  readonly #turns = new Map<Role, ModelResponse[]>();
  readonly #results = new Map<string, ToolCallResult[]>();

  constructor(runs: RecordedRun[]) {
    for (const run of runs) {
      this.#turns.set(run.role, [...(this.#turns.get(run.role) ?? []), ...turnsOf(run)]);
      for (const [key, result] of resultsOf(run)) this.#results.set(key, [...(this.#results.get(key) ?? []), result]);
    }
  }

  /** The recorded answer to a model call; a call past the recording is a permanent error naming it. */
  answer(request: ModelRequest): ModelResponse {
    const turn = this.#turns.get(request.role)?.[request.callIndex];
    if (!turn)
      throw new ConfigurationError(
        `replay: the ${request.role} asks for model call ${request.callIndex + 1}, which was never recorded (the recorded run did not get this far)`,
      );
    return turn;
  }

  /** The recorded result of a call with these arguments, each used once in the order recorded. */
  result(server: string, tool: string, args: Record<string, unknown>): ToolCallResult {
    const queue = this.#results.get(resultKey(server, tool, args));
    const result = queue?.shift();
    if (!result)
      throw new ConfigurationError(
        `replay: ${server}.${tool} was called with arguments the recorded run never used (${canonicalJson(args).slice(0, 200)})`,
      );
    return result;
  }
}

const resultKey = (server: string, tool: string, args: Record<string, unknown>) =>
  `${server}.${tool}|${canonicalJson(args)}`;

/** Each assistant message with the tokens its model_call event recorded, in order. */
function turnsOf(run: RecordedRun): ModelResponse[] {
  const calls = run.trace.filter((event) => event.kind === 'model_call' && event.status === 'ok');
  return run.messages
    .filter((message) => message.role === 'assistant')
    .map((message, index) => {
      const content = message.content.filter(
        (block): block is TextBlock | ToolCallBlock => block.type === 'text' || block.type === 'tool_call',
      );
      const event = calls[index];
      return {
        content,
        stopReason: content.some((block) => block.type === 'tool_call') ? 'tool_use' : 'end_turn',
        inputTokens: event?.inputTokens ?? 0,
        outputTokens: event?.outputTokens ?? 0,
        cachedInputTokens: event?.cachedInputTokens ?? 0,
        provider: 'replay',
        modelId: event?.model ?? 'replay',
      };
    });
}

/** Each MCP call's result (what the server answered, before offloading), by server, tool and arguments. */
function resultsOf(run: RecordedRun): Array<[string, ToolCallResult]> {
  const byCall = new Map<string, { content: string; isError: boolean }>();
  for (const message of run.messages)
    for (const block of message.content)
      if (block.type === 'tool_result')
        byCall.set(block.callId, { content: run.offloaded?.[block.callId] ?? block.content, isError: block.isError });
  const calls = new Map<string, ToolCallBlock>();
  for (const message of run.messages)
    for (const block of message.content) if (block.type === 'tool_call') calls.set(block.id, block);
  const results: Array<[string, ToolCallResult]> = [];
  for (const event of run.trace) {
    if (event.kind !== 'tool_call' || !event.server || !event.tool || !event.callId) continue;
    const call = calls.get(event.callId);
    const result = byCall.get(event.callId);
    if (call && result) results.push([resultKey(event.server, event.tool, call.arguments), result]);
  }
  return results;
}

/** What the runtime decided at one point of a run, as the replay compares it. */
export interface Decision {
  /** Which run of the replay it belongs to: the maker, or the checker's Nth run. */
  where: string;
  kind: TraceEvent['kind'];
  name: string;
  status: TraceEvent['status'];
  stopReason?: string;
  detail?: string;
}

const DECIDING: ReadonlySet<TraceEvent['kind']> = new Set([
  'tool_call',
  'tool_denied',
  'approval_requested',
  'verification',
  'delegation',
  'stop_decided',
  'run_finished',
  'run_failed',
]);

/** The decisions of a run and, where it handed over to a checker, the checker's, in the order they were made. */
export function decisionsOf(trace: TraceEvent[], children: Map<string, TraceEvent[]>, where = 'maker'): Decision[] {
  const decisions: Decision[] = [];
  let checkerRuns = 0;
  for (const event of trace) {
    if (!DECIDING.has(event.kind)) continue;
    if (event.kind === 'verification' && event.childRunId) {
      checkerRuns += 1;
      decisions.push(...decisionsOf(children.get(event.childRunId) ?? [], children, `checker ${checkerRuns}`));
    }
    decisions.push({
      where,
      kind: event.kind,
      name: event.name,
      status: event.status,
      ...(event.stopReason ? { stopReason: event.stopReason } : {}),
      ...(event.detail ? { detail: event.detail } : {}),
    });
  }
  return decisions;
}

export interface ReplayReport {
  /** Decisions both runs made the same way, before the first that differs. */
  same: number;
  divergence?: { recorded?: Decision; replayed?: Decision; reading: string };
}

const key = (decision: Decision) =>
  `${decision.where}|${decision.kind}|${decision.name}|${decision.status}|${decision.stopReason ?? ''}`;

/** Where the replay first decides differently from the recording, read in plain words. */
export function compareDecisions(recorded: Decision[], replayed: Decision[]): ReplayReport {
  const length = Math.max(recorded.length, replayed.length);
  for (let index = 0; index < length; index++) {
    const was = recorded[index];
    const now = replayed[index];
    if (was && now && key(was) === key(now)) continue;
    return {
      same: index,
      divergence: { ...(was ? { recorded: was } : {}), ...(now ? { replayed: now } : {}), reading: reading(was, now) },
    };
  }
  return { same: length };
}

function reading(was: Decision | undefined, now: Decision | undefined): string {
  if (!now) return `the replay ended before the recorded ${describe(was!)}`;
  const at = `${now.where}: ${now.name}`;
  if (now.kind === 'tool_denied') return `${at} would now be denied${now.detail ? `: ${now.detail}` : ''}`;
  if (now.kind === 'approval_requested')
    return `${at} would now wait for approval${now.detail ? ` (${now.detail})` : ''}`;
  if (now.kind === 'tool_call' && now.status === 'denied' && was?.status !== 'denied')
    return `${at} would now be blocked${now.detail ? `: ${now.detail}` : ''}`;
  if (now.kind === 'tool_call' && now.status !== (was?.status ?? now.status))
    return `${at} would now end ${now.status}${now.detail ? `: ${now.detail}` : ''}`;
  if (now.stopReason && now.stopReason !== was?.stopReason)
    return `${now.where}: the run would stop here, ${now.stopReason}${now.detail ? ` (${now.detail})` : ''}`;
  if (now.kind === 'verification') return `${now.where}: the checker would now say ${now.status}`;
  return `${now.where} would now ${describe(now)} where the recorded run ${was ? describe(was) : 'had ended'}`;
}

function describe(decision: Decision): string {
  const reason = decision.stopReason ? ` (${decision.stopReason})` : '';
  return `${decision.kind.replace('_', ' ')} ${decision.name}: ${decision.status}${reason}`;
}
