import type { RunMeta } from '../definitions/run.ts';
import type { ApprovalRequirement } from '../policy/approval-rules.ts';
import type { ApprovalRecord, ApprovalStore } from '../ports/store/approvals.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import type { RunDeps } from '../run/deps.ts';
import { loadStartedRun } from '../run/load.ts';
import { mailApprovers } from './notify.ts';

/** What the reminder sweep uses: paused runs and their approvals, and the approval mail. */
type ReminderDeps = Pick<RunDeps, 'log' | 'approvals' | 'mailer' | 'guardrailRules'> & {
  store: RunRecordStore & ApprovalStore;
};

/**
 * Reminders before an approval expires, and escalation to a fallback group, as the agent's
 * approval rules declare them (`remind_before`, `escalate_after` + `escalate_to`). The
 * record carries when each is due (set at RequestApproval); a sweeper (the dev server's
 * timer locally, a scheduled Lambda on AWS) asks what is due and does it. Each is done
 * once: a conditional write on the record claims it before any mail goes out, so racing
 * sweepers mail once between them (a mail that then fails is logged, not retried).
 *
 * They are recorded on the approval record (`reminderSentAt`, `escalatedAt`), not on the
 * run's trace: trace events are written only by a step's commit, under the run's seq guard,
 * and a sweeper is no step of the run.
 */

export type ApprovalActionKind = 'reminder' | 'escalation';

export interface DueApprovalAction {
  approvalId: string;
  runId: string;
  kind: ApprovalActionKind;
}

/** When to remind and escalate, from the requirements of the calls waiting; none when it would fall outside the wait. */
export function approvalSchedule(
  createdAt: Date,
  expiresAt: Date,
  requirements: ApprovalRequirement[],
): Pick<ApprovalRecord, 'remindAt' | 'escalateAt' | 'escalateTo'> {
  const start = createdAt.getTime();
  const end = expiresAt.getTime();
  const leads = requirements.flatMap((requirement) =>
    requirement.remindBeforeSeconds !== undefined ? [requirement.remindBeforeSeconds] : [],
  );
  const delays = requirements.flatMap((requirement) =>
    requirement.escalateAfterSeconds !== undefined && (requirement.escalateTo?.length ?? 0) > 0
      ? [requirement.escalateAfterSeconds]
      : [],
  );
  const remindAt = leads.length > 0 ? end - Math.max(...leads) * 1000 : undefined;
  const escalateAt = delays.length > 0 ? start + Math.min(...delays) * 1000 : undefined;
  const escalateTo = [
    ...new Set(
      requirements.flatMap((requirement) =>
        requirement.escalateAfterSeconds !== undefined ? (requirement.escalateTo ?? []) : [],
      ),
    ),
  ];
  return {
    ...(remindAt !== undefined && remindAt > start ? { remindAt: new Date(remindAt).toISOString() } : {}),
    ...(escalateAt !== undefined && escalateAt < end && escalateTo.length > 0
      ? { escalateAt: new Date(escalateAt).toISOString(), escalateTo }
      : {}),
  };
}

/** Pure: which reminders and escalations are due at `now` (pending, not expired, not done yet). */
export function dueApprovalActions(approvals: ApprovalRecord[], now: Date): DueApprovalAction[] {
  const at = now.getTime();
  const due: DueApprovalAction[] = [];
  for (const record of approvals) {
    if (record.status !== 'pending' || at >= Date.parse(record.expiresAt)) continue;
    // Escalation first: a reminder due at the same sweep then reaches the escalated group too.
    if (
      record.escalateAt &&
      !record.escalatedAt &&
      (record.escalateTo?.length ?? 0) > 0 &&
      at >= Date.parse(record.escalateAt)
    ) {
      due.push({ approvalId: record.approvalId, runId: record.runId, kind: 'escalation' });
    }
    if (record.remindAt && !record.reminderSentAt && at >= Date.parse(record.remindAt)) {
      due.push({ approvalId: record.approvalId, runId: record.runId, kind: 'reminder' });
    }
  }
  return due;
}

const sameAddress = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * The pending approvals of paused runs: a run waits on at most one, and its record says
 * which (the listing `GET /v1/approvals` uses). Across agents the store lists runs by
 * status, so this reads paused runs only, never the whole table.
 */
export async function pendingApprovals(
  deps: { store: RunRecordStore & ApprovalStore },
  options: { pageSize?: number; maxPages?: number } = {},
): Promise<ApprovalRecord[]> {
  const pageSize = options.pageSize ?? 1000;
  const records: ApprovalRecord[] = [];
  let cursor: { createdAt: string; runId: string } | undefined;
  for (let page = 0; page < (options.maxPages ?? 20); page++) {
    const runs: RunMeta[] = await deps.store.listRuns({ status: 'paused', limit: pageSize, cursor });
    for (const run of runs) {
      if (!run.pendingApprovalId) continue;
      const record = await deps.store.getApproval(run.pendingApprovalId);
      if (record?.status === 'pending') records.push(record);
    }
    if (runs.length < pageSize) break;
    const last = runs[runs.length - 1]!;
    cursor = { createdAt: last.createdAt, runId: last.runId };
  }
  return records;
}

/**
 * The sweep: sends every reminder and escalation due at `now`, each once. Returns what
 * this call did (a sweeper that lost a race to another reports nothing for it).
 */
export async function sendDueApprovalReminders(
  deps: ReminderDeps,
  now: Date,
): Promise<Array<DueApprovalAction & { mailed: string[] }>> {
  const done: Array<DueApprovalAction & { mailed: string[] }> = [];
  const records = await pendingApprovals(deps);
  for (const action of dueApprovalActions(records, now)) {
    try {
      done.push(...(await perform(deps, action, now)));
    } catch (error) {
      deps.log.warn('approval reminder or escalation failed', {
        approvalId: action.approvalId,
        kind: action.kind,
        error: (error as Error).name,
        message: (error as Error).message,
      });
    }
  }
  return done;
}

async function perform(
  deps: ReminderDeps,
  action: DueApprovalAction,
  now: Date,
): Promise<Array<DueApprovalAction & { mailed: string[] }>> {
  const current = await deps.store.getApproval(action.approvalId);
  if (!current) return [];
  // Read again: another sweeper may have done it since the listing.
  if (dueApprovalActions([current], now).every((due) => due.kind !== action.kind)) return [];
  const adding =
    action.kind === 'escalation'
      ? (current.escalateTo ?? []).filter(
          (address) => !current.approvers.some((approver) => sameAddress(approver, address)),
        )
      : [];
  const claimed = await deps.store.claimApprovalAction(action.approvalId, action.kind, now.toISOString(), adding);
  if (!claimed) return [];
  // An escalation mails the addresses it added (those already approvers had their link); a reminder mails every approver.
  const recipients = action.kind === 'escalation' ? adding : claimed.approvers;
  if (recipients.length === 0) return [{ ...action, mailed: [] }];
  const meta = await deps.store.getRun(action.runId);
  if (!meta) return [{ ...action, mailed: [] }];
  const state = await loadStartedRun(deps, action.runId);
  const mailed = await mailApprovers(deps, { ...claimed, approvers: recipients }, state, meta, { kind: action.kind });
  deps.log.info(action.kind === 'reminder' ? 'approval reminder sent' : 'approval escalated', {
    approvalId: action.approvalId,
    runId: action.runId,
    mailed: mailed.length,
  });
  return [{ ...action, mailed }];
}
