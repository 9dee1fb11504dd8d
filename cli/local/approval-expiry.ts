import { APPROVAL_EXPIRED } from '../../core/errors.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { failRunStep } from '../../core/run/finish-run.ts';
import { sendDueApprovalReminders } from '../../core/approvals/reminders.ts';

/**
 * After a restart of the dev server, no execution waits on a paused run's task token any
 * more, so nothing would time its approval out. This does what Step Functions' timeout
 * does on AWS: when a pending approval's time is up and the run still waits on it, the
 * run stops `approval_expired` (and the approvers are told, by FailRun). Approvals already
 * past their time are closed at once; the others get a timer. A decision before then
 * resumes the run as usual (adapters/executions/local-tasks.ts).
 */
export function watchPausedApprovals(
  deps: RunDeps,
  options: { limit?: number } = {},
): { started: Promise<string[]>; stop(): void } {
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  const expireIfStillWaiting = async (runId: string, approvalId: string): Promise<boolean> => {
    const [meta, record] = await Promise.all([deps.store.getRun(runId), deps.store.getApproval(approvalId)]);
    if (meta?.status !== 'paused' || meta.pendingApprovalId !== approvalId || record?.status !== 'pending')
      return false;
    await failRunStep(deps, {
      runId,
      error: { Error: APPROVAL_EXPIRED, Cause: `no decision before the approval expired at ${record.expiresAt}` },
    });
    return true;
  };

  const started = (async () => {
    const expired: string[] = [];
    for (const run of await deps.store.listRuns({ status: 'paused', role: 'maker', limit: options.limit ?? 100 })) {
      if (!run.pendingApprovalId) continue;
      const record = await deps.store.getApproval(run.pendingApprovalId);
      if (record?.status !== 'pending') continue;
      const waitMs = Date.parse(record.expiresAt) - deps.clock.now().getTime();
      if (waitMs <= 0) {
        if (await expireIfStillWaiting(run.runId, record.approvalId)) expired.push(run.runId);
        continue;
      }
      // setTimeout holds at most ~24.8 days; an approval longer than that is checked again then.
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          if (stopped) return;
          expireIfStillWaiting(run.runId, record.approvalId).catch((error: unknown) =>
            deps.log.error('could not expire an approval', {
              runId: run.runId,
              approvalId: record.approvalId,
              error: (error as Error).name,
            }),
          );
        },
        Math.min(waitMs, 2 ** 31 - 1),
      );
      timer.unref();
      timers.add(timer);
    }
    return expired;
  })();

  return {
    started,
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/**
 * Reminders and escalations of pending approvals (the rules' `remind_before`,
 * `escalate_after`): a sweep every `everyMs` (default a minute), as the scheduled Lambda
 * does on AWS every five. Each is sent once, however many sweeps overlap.
 */
export function sweepApprovalReminders(deps: RunDeps, options: { everyMs?: number } = {}): { stop(): void } {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      await sendDueApprovalReminders(deps, deps.clock.now());
    } catch (error) {
      deps.log.error('approval reminder sweep failed', {
        error: (error as Error).name,
        message: (error as Error).message,
      });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), options.everyMs ?? 60_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
