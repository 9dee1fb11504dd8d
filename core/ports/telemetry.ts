import type { RunMeta } from '../definitions/run.ts';
import type { TraceEvent } from '../definitions/trace.ts';

/** A finished run as an observability backend sees it: the run, its steps, and its checker runs' steps. */
export interface FinishedRun {
  meta: RunMeta;
  events: TraceEvent[];
  /** Runs the trace links to (checker runs), by the event that started them. */
  children: Array<{ meta: RunMeta; events: TraceEvent[] }>;
}

/** Where finished runs are exported as traces (OTLP to the team's collector); none if absent. */
export interface RunTelemetry {
  exportRun(run: FinishedRun): Promise<void>;
}
