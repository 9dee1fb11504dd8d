import type { RunStatus } from '../definitions/run.ts';

/**
 * Which sandbox tasks the sweeper stops (functions/sandbox/sweeper.ts). FinishRun and
 * FailRun stop a run's sandbox themselves; this catches what they could not: a run that
 * died without reaching either, a destroy that failed, a task that outlived every limit.
 */

export interface SandboxTaskInfo {
  taskArn: string;
  /** The maker run's id (the task's startedBy). */
  sandboxId: string;
  createdAt: Date;
}

export interface SweepPolicy {
  /** A task older than this is stopped whatever its run's state (the hard cap). */
  maxAgeMs: number;
  /**
   * A task this young whose run is not found is left alone: the run record is written
   * before its first sandbox call, but a read may not see a write of the same moment.
   */
  graceMs: number;
}

export interface SweepDecision extends SandboxTaskInfo {
  reason: string;
}

/** Runs that are over: their sandbox has nothing left to do. */
const ENDED: ReadonlySet<RunStatus> = new Set(['finished', 'failed']);

/**
 * The tasks to stop, each with why. `runs` holds every task's run status as read from the
 * table (undefined: no such run). Paused runs (waiting for an approval) keep their sandbox
 * until the hard cap: the workspace is what the approver's decision continues with.
 */
export function sandboxesToStop(
  tasks: SandboxTaskInfo[],
  runs: ReadonlyMap<string, RunStatus | undefined>,
  now: Date,
  policy: SweepPolicy,
): SweepDecision[] {
  const decisions: SweepDecision[] = [];
  for (const task of tasks) {
    const ageMs = now.getTime() - task.createdAt.getTime();
    const status = runs.get(task.sandboxId);
    let reason: string | undefined;
    if (status !== undefined && ENDED.has(status)) reason = `run ${task.sandboxId} is ${status}`;
    else if (status === undefined && ageMs >= policy.graceMs) reason = `run ${task.sandboxId} does not exist`;
    else if (ageMs >= policy.maxAgeMs)
      reason = `older than ${Math.round((policy.maxAgeMs / 3_600_000) * 10) / 10} h (the sandbox hard cap)`;
    if (reason) decisions.push({ ...task, reason });
  }
  return decisions;
}
