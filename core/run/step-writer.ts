import type { Message } from '../definitions/messages.ts';
import type { Control, NextStep, RunMeta } from '../definitions/run.ts';
import type { NewTraceEvent, TraceEvent } from '../definitions/trace.ts';
import type { RunContext } from '../definitions/context.ts';
import type { RollupIncrement } from '../ports/store/budgets.ts';
import type { RunRecordStore, StepCommit } from '../ports/store/runs.ts';
import { TraceEvent as TraceEventSchema } from '../definitions/trace.ts';
import { ValidationError } from '../errors.ts';

/**
 * Collects what one step writes (the new run record, messages, trace events) and
 * commits it atomically, guarded by the run's seq: a retried step either finds its
 * work committed (and replays the same answer) or commits it once.
 */
export class StepWriter {
  readonly meta: RunMeta;
  private readonly expectedSeq: number;
  private readonly messages: Array<{ seq: number; message: Message }> = [];
  private readonly trace: TraceEvent[] = [];
  private context?: RunContext;
  private readonly rollups: RollupIncrement[] = [];

  /** The seq the step was invoked at, when this is its second commit (a ModelStep going on with its turn's calls). */
  private readonly continuedFrom?: number;

  constructor(current: RunMeta, options: { continuedFrom?: number } = {}) {
    this.expectedSeq = current.seq;
    this.meta = structuredClone(current);
    this.continuedFrom = options.continuedFrom;
  }

  addMessage(message: Message): void {
    this.messages.push({ seq: this.meta.messageCount, message });
    this.meta.messageCount += 1;
  }

  addTrace(event: NewTraceEvent): void {
    this.trace.push(TraceEventSchema.parse({ ...event, runId: this.meta.runId, seq: this.meta.traceCount }));
    this.meta.traceCount += 1;
  }

  private released?: string;

  /** Gives back the agent's concurrency slot this run held (with the commit that ends it). */
  releaseConcurrency(agent: string): void {
    this.released = agent;
  }

  addRollups(rollups: RollupIncrement[]): void {
    for (const rollup of rollups) {
      // A transaction may touch an item once: a step's increments of the same row (a compaction and the call after it) add up.
      const same = this.rollups.find(
        (r) =>
          r.dimension === rollup.dimension && r.key === rollup.key && r.date === rollup.date && r.role === rollup.role,
      );
      if (!same) this.rollups.push({ ...rollup });
      else {
        same.costMicros += rollup.costMicros;
        same.inputTokens += rollup.inputTokens;
        same.outputTokens += rollup.outputTokens;
        same.calls += rollup.calls;
      }
    }
  }

  setContext(context: RunContext): void {
    this.context = context;
  }

  /**
   * Commits and returns the control fields for the state machine. When another writer got
   * there first, a step handler (onStale 'replay') answers what that attempt of the same
   * step answered; a writer that is not a retried step (FinishRun, FailRun, a decision:
   * onStale 'throw') must not take another step's commit for its own, so it gets an error
   * and reads the run again.
   */
  async commit(
    deps: { store: RunRecordStore },
    next: NextStep,
    extra: Partial<Control> = {},
    onStale: 'replay' | 'throw' = 'replay',
  ): Promise<Control> {
    const control: Control = { runId: this.meta.runId, seq: this.expectedSeq + 1, next, ...extra };
    // The ToolStep that follows reads the record and the last turn by key in one request.
    if (next === 'tools' || next === 'delegate') control.messageCount = this.meta.messageCount;
    this.meta.seq = this.expectedSeq + 1;
    this.meta.lastControl = control;
    if (this.continuedFrom === undefined) delete this.meta.continuedFrom;
    else this.meta.continuedFrom = this.continuedFrom;
    const commit: StepCommit = {
      expectedSeq: this.expectedSeq,
      meta: this.meta,
      messages: this.messages,
      trace: this.trace,
      context: this.context,
      rollups: this.rollups,
      releaseConcurrency: this.released,
    };
    const outcome = await deps.store.commit(this.meta.runId, commit);
    if (outcome === 'committed') return control;
    if (onStale === 'throw')
      throw new ValidationError(
        `run ${this.meta.runId} moved on from seq ${this.expectedSeq} while this change was being made`,
      );
    // Another attempt of this step got there first: answer what it answered.
    const stored = await deps.store.getRun(this.meta.runId);
    if (stored?.seq === this.expectedSeq + 1 && stored.lastControl) return stored.lastControl;
    throw new ValidationError(
      `run ${this.meta.runId} moved on to seq ${stored?.seq} while a step expected ${this.expectedSeq}: a second execution is driving it`,
    );
  }
}

/**
 * A step invoked again after its commit (a retry after a crash between the write and
 * the return) replays the stored answer instead of doing the work twice.
 */
export function replayedControl(meta: RunMeta, inputSeq: number): Control | undefined {
  if (meta.seq === inputSeq) return undefined;
  if (meta.seq === inputSeq + 1 && meta.lastControl) return meta.lastControl;
  // A step that committed twice: its second commit's answer.
  if (meta.continuedFrom === inputSeq && meta.seq === inputSeq + 2 && meta.lastControl) return meta.lastControl;
  throw new ValidationError(
    `run ${meta.runId} is at seq ${meta.seq}; this step expected ${inputSeq}: a second execution is driving it`,
  );
}
