import type { RunContext } from '../definitions/context.ts';
import type { RunMeta, TurnState } from '../definitions/run.ts';
import type { LoadOptions, RunRecordStore, RunState } from '../ports/store/runs.ts';
import { NotFoundError, ValidationError } from '../errors.ts';

export interface StartedRunState extends RunState {
  context: RunContext;
}

export async function loadStartedRun(
  deps: { store: RunRecordStore },
  runId: string,
  options?: LoadOptions,
): Promise<StartedRunState> {
  const state = await deps.store.loadState(runId, options);
  if (!state) throw new NotFoundError(`run ${runId} does not exist`);
  if (!state.context) throw new ValidationError(`run ${runId} has not been started (no snapshot)`);
  return { ...state, meta: withTurnState(state.meta) } as StartedRunState;
}

const TURN_FIELDS = ['approvedCallIds', 'approvedBindings', 'rejectedCalls', 'delegatedRuns'] as const;

/**
 * A record written before turn-only state was grouped under `turn` (a run paused or waiting
 * for a child execution across a deploy) keeps those fields at the top level: they are read
 * into `turn`, and the next commit writes the record without them.
 */
export function withTurnState(meta: RunMeta): RunMeta {
  const legacy = meta as RunMeta & TurnState;
  if (!TURN_FIELDS.some((field) => legacy[field] !== undefined)) return meta;
  const { approvedCallIds, approvedBindings, rejectedCalls, delegatedRuns, ...rest } = legacy;
  const fields = { approvedCallIds, approvedBindings, rejectedCalls, delegatedRuns };
  const moved = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  return { ...rest, turn: { ...moved, ...meta.turn } };
}

export function elapsedMs(start: Date, end: Date): number {
  return Math.max(0, end.getTime() - start.getTime());
}
