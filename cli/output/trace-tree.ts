import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { callProblems, outcomeLines } from './run-outcome.ts';
import { summaryLine, traceLine, type RunTotals } from './trace-lines.ts';

/** A run's trace as a tree: each event that started a child run (a checker) is followed by that run's own steps, nested. */
export type TracedRun = RunTotals &
  Pick<RunMeta, 'agent' | 'runId' | 'trigger' | 'principal' | 'createdAt' | 'startedAt' | 'endedAt'>;

/** Child runs nest at most this deep: a loop in the links (a bug) cannot recurse forever. */
const MAX_DEPTH = 8;

export function renderTrace(
  meta: TracedRun,
  trace: TraceEvent[],
  children: Record<string, TraceEvent[]>,
  answer?: string,
): string {
  const lines = [
    `▶ ${meta.agent} · run ${meta.runId} · ${meta.trigger.kind} · principal ${meta.principal} · ${meta.createdAt}`,
  ];
  const walk = (events: TraceEvent[], indent: string, depth: number, seen: Set<string>) => {
    for (const event of events) {
      lines.push(traceLine(event, indent));
      const childId = event.childRunId;
      if (!childId || seen.has(childId) || depth >= MAX_DEPTH) continue;
      const child = children[childId];
      if (!child) continue;
      lines.push(`${indent}│ ▷ ${childId}`);
      walk(child, `${indent}│ `, depth + 1, new Set([...seen, childId]));
    }
  };
  walk(trace, '  ', 0, new Set([meta.runId]));
  const elapsed = meta.endedAt && meta.startedAt ? Date.parse(meta.endedAt) - Date.parse(meta.startedAt) : 0;
  lines.push(summaryLine(meta, elapsed));
  lines.push(...outcomeLines(callProblems(trace, children), answer));
  return lines.join('\n');
}

/** Every run a trace links to (checker runs), and theirs in turn, read with `listTrace`. */
export async function childTraces(
  trace: TraceEvent[],
  listTrace: (runId: string) => Promise<TraceEvent[]>,
): Promise<Record<string, TraceEvent[]>> {
  const children: Record<string, TraceEvent[]> = {};
  let pending = trace;
  for (let depth = 0; depth < MAX_DEPTH && pending.length > 0; depth++) {
    const ids = [
      ...new Set(
        pending.flatMap((event) => (event.childRunId && !(event.childRunId in children) ? [event.childRunId] : [])),
      ),
    ];
    const read = await Promise.all(ids.map(async (runId) => [runId, await listTrace(runId)] as const));
    for (const [runId, events] of read) children[runId] = events;
    pending = read.flatMap(([, events]) => events);
  }
  return children;
}
