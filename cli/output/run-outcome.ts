import { peopleToolName, readableToolName } from '../../core/definitions/context.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';

/**
 * How a run ended, for the person at the terminal: the agent's final answer, the tool calls
 * that were refused or failed (a run can complete with some), plain words for the error names
 * the state machine records, and the exit status that tells these endings apart.
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
    const call = { role: event.role, tool: eventToolName(event), detail: plainDetail(event.detail ?? '') };
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

/** What the state machine's error names mean, in the words a person would use. */
const PLAIN_ERRORS: Record<string, string> = {
  'looprail.ExecutionABORTED': 'the execution was stopped',
  'looprail.ExecutionTIMED_OUT': 'the execution ran out of time',
  'looprail.ExecutionFAILED': 'the execution failed',
  'States.Timeout': 'a step ran out of time',
  'States.Runtime': 'the state machine failed',
  'looprail.ConfigurationError': 'configuration problem',
  'looprail.ContextTooLong': 'the conversation is longer than the model accepts',
  'looprail.ToolUnavailable': 'a tool server stayed unavailable',
  'looprail.ToolTimeout': 'a tool call ran out of time',
  'looprail.ModelUnavailable': 'the model stayed unavailable',
  'looprail.SecretNotFound': 'a secret is missing',
  'looprail.NotFound': 'not found',
  'looprail.ValidationError': 'invalid',
  'looprail.ApprovalExpired': 'nobody decided in time',
  'looprail.ApprovalRejected': 'an approver rejected a call',
  'looprail.RateLimited': 'over the rate limit',
  'looprail.BudgetContended': 'the budget stayed held by other runs',
  ExecutionError: 'the execution failed',
  Error: 'error',
};

/** `looprail.ConfigurationError: MCP server …` → `configuration problem: MCP server …`. */
export function plainDetail(detail: string): string {
  const match =
    /^([A-Za-z][\w.]*(?:Error|Exception|ABORTED|TIMED_OUT|FAILED|Timeout|Runtime|Unavailable|NotFound|TooLong|Expired|Rejected|Limited|Contended)): ?/.exec(
      detail,
    );
  if (!match) return detail;
  const name = match[1]!;
  const plain = PLAIN_ERRORS[name] ?? name.replace(/^looprail\./, '');
  const rest = detail.slice(match[0].length);
  if (!rest) return plain;
  // The message often names an error again (a cause wrapped in its execution's failure): said once.
  const inner = plainDetail(rest);
  return inner.startsWith(plain) ? inner : `${plain}: ${inner}`;
}
