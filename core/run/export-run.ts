import type { RunMeta } from '../definitions/run.ts';
import type { TraceEvent } from '../definitions/trace.ts';
import { MAX_SEQ_PAGE, type RunRecordStore } from '../ports/store/runs.ts';
import type { RunDeps } from './deps.ts';

/**
 * A maker run that has ended goes to the telemetry port (OpenTelemetry) with its checker
 * runs inside it: one trace per run. Like runtime events, an export is a notification:
 * a collector that is down is logged and never fails the step that closed the run.
 */
export async function exportFinishedRun(
  deps: Pick<RunDeps, 'telemetry' | 'log'> & { store: RunRecordStore },
  meta: RunMeta,
): Promise<void> {
  if (!deps.telemetry || meta.role !== 'maker') return;
  try {
    const events = await wholeTrace(deps.store, meta.runId);
    const childIds = [...new Set(events.flatMap((event) => (event.childRunId ? [event.childRunId] : [])))];
    const children: Array<{ meta: RunMeta; events: TraceEvent[] }> = [];
    for (const runId of childIds) {
      const child = await deps.store.getRun(runId);
      if (child) children.push({ meta: child, events: await wholeTrace(deps.store, runId) });
    }
    await deps.telemetry.exportRun({ meta, events, children });
  } catch (error) {
    deps.log.warn('could not export the run to telemetry', { runId: meta.runId, error: (error as Error).message });
  }
}

async function wholeTrace(store: Pick<RunRecordStore, 'listTracePage'>, runId: string): Promise<TraceEvent[]> {
  const events: TraceEvent[] = [];
  let afterSeq: number | undefined;
  do {
    const page = await store.listTracePage(runId, { afterSeq, limit: MAX_SEQ_PAGE });
    events.push(...page.events);
    afterSeq = page.nextAfterSeq;
  } while (afterSeq !== undefined);
  return events;
}
