import { callableToolName, peopleToolName, readableToolName } from '../../core/definitions/context.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { plainDetail } from '../../core/format/error-names.ts';

/**
 * How a run ended, for the person at the terminal: the agent's final answer, the tool calls
 * that were refused or failed (a run can complete with some), and the exit status that tells
 * these endings apart.
 */

/** `looprail run`'s exit statuses; README's CLI section lists them. */
export const EXIT = {
  /** Ended verified or completed, every tool call made and answered. */
  clean: 0,
  /** An error, invalid definitions, or a run that failed. */
  error: 1,
  /** Stopped for another reason: a limit, a rejection, a stall… */
  stopped: 2,
  /** Ended verified or completed, but some tool calls were refused or failed on the way. */
  completedWithProblems: 3,
} as const;

export interface ProblemCall {
  /** `maker`, or the child run's role (`checker`). */
  role: string;
  /** As people read it: `server.tool`. */
  tool: string;
  detail: string;
}

export interface CallProblems {
  refused: ProblemCall[];
  failed: ProblemCall[];
}

/** A tool call's event as people read the tool: `server.tool`, never the model's `server__tool`. */
export function eventToolName(event: Pick<TraceEvent, 'name' | 'server' | 'tool'>): string {
  return event.server && event.tool ? peopleToolName(event.server, event.tool) : readableToolName(event.name);
}

/** The refused and failed tool calls of a run and of the runs it started (its checker's). */
export function callProblems(trace: TraceEvent[], children: Record<string, TraceEvent[]> = {}): CallProblems {
  const problems: CallProblems = { refused: [], failed: [] };
  for (const event of [...trace, ...Object.values(children).flat()]) {
    if (event.kind !== 'tool_call' && event.kind !== 'tool_denied') continue;
    const tool = eventToolName(event);
    // The detail was written for the model, which calls the tool `server__tool`: shown here as people name it.
    const modelName = callableToolName(tool);
    const shown = plainDetail(event.detail ?? '');
    const detail = modelName !== tool ? shown.replaceAll(modelName, tool) : shown;
    const call = { role: event.role, tool, detail };
    if (event.kind === 'tool_denied' || event.status === 'denied') problems.refused.push(call);
    else if (event.status === 'error') problems.failed.push(call);
  }
  return problems;
}

export function exitStatus(meta: Pick<RunMeta, 'stopReason' | 'status'>, problems: CallProblems): number {
  const reason = meta.stopReason;
  if (reason === 'verified' || reason === 'completed')
    return problems.refused.length + problems.failed.length > 0 ? EXIT.completedWithProblems : EXIT.clean;
  return meta.status === 'failed' || !reason ? EXIT.error : EXIT.stopped;
}

const MAX_LISTED = 10;

/** The lines after a run's summary: each refused or failed call, and the agent's final answer. */
export function outcomeLines(problems: CallProblems, answer: string | undefined): string[] {
  const lines: string[] = [];
  const list = (label: string, calls: ProblemCall[]) => {
    if (calls.length === 0) return;
    lines.push(`  ${calls.length} tool call${calls.length === 1 ? '' : 's'} ${label}:`);
    for (const call of calls.slice(0, MAX_LISTED)) {
      const who = call.role === 'maker' ? '' : ` (${call.role})`;
      lines.push(`    ${call.tool}${who}: ${call.detail.replace(/\s+/g, ' ').slice(0, 200)}`);
    }
    if (calls.length > MAX_LISTED) lines.push(`    … and ${calls.length - MAX_LISTED} more (looprail trace <runId>)`);
  };
  list('refused', problems.refused);
  list('failed', problems.failed);
  if (answer) lines.push('', 'Answer:', ...answer.split('\n').map((line) => `  ${line}`));
  return lines;
}
