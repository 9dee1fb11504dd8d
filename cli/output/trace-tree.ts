import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { summaryLine, traceLine, type RunTotals } from './trace-lines.ts';

/** A run's trace as a tree: each verification followed by its checker run's own steps. */
export type TracedRun = RunTotals & Pick<RunMeta, 'agent' | 'runId' | 'trigger' | 'principal' | 'createdAt' | 'startedAt' | 'endedAt'>;

export function renderTrace(meta: TracedRun, trace: TraceEvent[], children: Record<string, TraceEvent[]>): string {
  const lines = [`▶ ${meta.agent} · run ${meta.runId} · ${meta.trigger.kind} · principal ${meta.principal} · ${meta.createdAt}`];
  for (const event of trace) {
    lines.push(traceLine(event, '  '));
    const child = event.childRunId ? children[event.childRunId] : undefined;
    for (const childEvent of child ?? []) lines.push(traceLine(childEvent, '  │ '));
  }
  const elapsed = meta.endedAt && meta.startedAt ? Date.parse(meta.endedAt) - Date.parse(meta.startedAt) : 0;
  lines.push(summaryLine(meta, elapsed));
  return lines.join('\n');
}
