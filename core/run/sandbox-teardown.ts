import type { RunMeta } from '../definitions/run.ts';
import type { RunDeps } from './deps.ts';

// Apart from sandbox.ts (the tools' way into a sandbox), so what ends a run (FinishRun, FailRun,
// the API's cancel) does not carry the sandbox's tools.

/** At FinishRun/FailRun of a maker run: the workspace goes with the run. Never fails the step. */
export async function destroySandbox(
  deps: Pick<RunDeps, 'sandboxes' | 'log'>,
  meta: Pick<RunMeta, 'runId' | 'parentRunId'>,
): Promise<void> {
  if (!deps.sandboxes || meta.parentRunId) return;
  try {
    await deps.sandboxes.destroy(meta.runId);
  } catch (error) {
    deps.log.warn('could not destroy a run sandbox', { runId: meta.runId, error: (error as Error).message });
  }
}
