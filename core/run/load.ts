import type { RunContext } from '../definitions/context.ts';
import type { RunRecordStore, RunState } from '../ports/store/runs.ts';
import { NotFoundError, ValidationError } from '../errors.ts';

export interface StartedRunState extends RunState {
  context: RunContext;
}

export async function loadStartedRun(deps: { store: RunRecordStore }, runId: string, options?: { lastMessages?: number }): Promise<StartedRunState> {
  const state = await deps.store.loadState(runId, options);
  if (!state) throw new NotFoundError(`run ${runId} does not exist`);
  if (!state.context) throw new ValidationError(`run ${runId} has not been started (no snapshot)`);
  return state as StartedRunState;
}

export function elapsedMs(start: Date, end: Date): number {
  return Math.max(0, end.getTime() - start.getTime());
}
