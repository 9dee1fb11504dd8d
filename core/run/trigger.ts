import type { ExecutionStarter } from '../ports/executions.ts';
import type { RunDeps } from './deps.ts';
import { requestRun, type RunRequest } from './request-run.ts';

export interface TriggerDeps extends RunDeps {
  executions: ExecutionStarter;
}

/**
 * The one start path every trigger takes (API, CLI, schedule, event, webhook): check the
 * agent and the input, record the run (its id derived from the dedupe key, so a repeated
 * trigger finds the same run), and start its execution. A run still queued (a start that
 * failed before) is started again; a run already going or ended is left as it is.
 */
export async function startRun(deps: TriggerDeps, request: RunRequest) {
  const requested = await requestRun(deps, request);
  if (requested.meta.status === 'queued') await deps.executions.start(requested.runId);
  return requested;
}
