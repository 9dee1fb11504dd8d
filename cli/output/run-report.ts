import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { RunRecordStore } from '../../core/ports/run-store.ts';
import { lastAnswer } from '../../core/run/notify.ts';
import { callProblems, type CallProblems } from './run-outcome.ts';
import { childTraces } from './trace-tree.ts';

/** A whole answer, not a notification's excerpt: the terminal shows what the agent said. */
const ANSWER_MAX_CHARS = 20_000;
/** The final answer is among the last few messages (a checker's feedback may follow it). */
const LAST_MESSAGES = 8;

export interface RunReport {
  trace: TraceEvent[];
  children: Record<string, TraceEvent[]>;
  answer?: string;
  problems: CallProblems;
}

/** What `run` and `trace` show of an ended run besides its steps: its answer and its refused or failed calls. */
export async function readRunReport(store: RunRecordStore, runId: string): Promise<RunReport> {
  const [trace, state] = await Promise.all([
    store.listTrace(runId),
    store.loadState(runId, { lastMessages: LAST_MESSAGES }),
  ]);
  const children = await childTraces(trace, (id) => store.listTrace(id));
  const answer = state ? lastAnswer(state.messages, ANSWER_MAX_CHARS) : undefined;
  return { trace, children, answer, problems: callProblems(trace, children) };
}
