import { beforeAll, describe, expect, it } from 'vitest';
import type { RunStore } from '../../../core/ports/run-store.ts';
import { approval, newRunId, runMeta, stepCommit } from '../run-store-fixtures.ts';

/** The approval, side-effect, rate-limit and budget ports: each write decided once, whatever the races. */
export function ledgersContract(fresh: () => Promise<RunStore>): void {
  describe('approvals, side effects, rate limits and budgets', () => {
    let store: RunStore;
    beforeAll(async () => {
      store = await fresh();
    });

    describe('approvals', () => {
      it('stores an approval once: a repeat with the same id changes nothing', async () => {
        const record = approval('approval-1', 'run-x');
        expect(await store.putApproval(record)).toBe(true);
        expect(await store.putApproval({ ...record, status: 'approved', taskToken: 'another-token' })).toBe(false);
        expect(await store.getApproval('approval-1')).toEqual(record);
        expect(await store.getApproval('approval-unknown')).toBeUndefined();
      });

      it('lets exactly one decision settle a pending approval; later ones change nothing', async () => {
        await store.putApproval(approval('approval-once', 'run-x'));
        const decision = {
          outcome: 'approved' as const,
          by: 'ops@example.com',
          at: '2026-01-05T09:00:00.000Z',
          via: 'operator ops',
        };
        const outcomes = await Promise.all([
          store.settleApproval('approval-once', 'approved', decision),
          store.settleApproval('approval-once', 'rejected', { ...decision, outcome: 'rejected' }),
          store.settleApproval('approval-once', 'expired'),
        ]);
        expect(outcomes.filter(Boolean)).toHaveLength(1);
        const won = (['approved', 'rejected', 'expired'] as const)[outcomes.indexOf(true)]!;
        expect((await store.getApproval('approval-once'))?.status).toBe(won);
        // The losers changed nothing: the decision is the winner's (none for an expiry).
        expect((await store.getApproval('approval-once'))?.decision?.outcome).toBe(won === 'expired' ? undefined : won);
        // A retried wait's new token goes nowhere once decided.
        await store.renewApprovalToken('approval-once', 'late-token');
        expect((await store.getApproval('approval-once'))?.taskToken).toBe('token-never-shown');
        expect(await store.settleApproval('approval-unknown', 'expired')).toBe(false);
      });

      it('renews the token of a pending approval', async () => {
        await store.putApproval(approval('approval-renew', 'run-x'));
        await store.renewApprovalToken('approval-renew', 'fresh-token');
        expect((await store.getApproval('approval-renew'))?.taskToken).toBe('fresh-token');
        await store.renewApprovalToken('approval-unknown', 'fresh-token');
      });

      it('adds each approver once, and none once the approval is decided', async () => {
        await store.putApproval(approval('approval-two', 'run-x', { requiredApprovals: 2 }));
        expect(await store.addApprover('approval-two', 'a@example.com')).toEqual(['a@example.com']);
        expect(await store.addApprover('approval-two', 'a@example.com')).toBeUndefined();
        expect(await store.addApprover('approval-two', 'b@example.com')).toEqual(['a@example.com', 'b@example.com']);
        expect((await store.getApproval('approval-two'))?.approvedBy).toEqual(['a@example.com', 'b@example.com']);
        await store.settleApproval('approval-two', 'approved');
        expect(await store.addApprover('approval-two', 'c@example.com')).toBeUndefined();
      });

      it('claims a reminder and an escalation once each, only while pending', async () => {
        await store.putApproval(approval('approval-sweep', 'run-x'));
        const reminded = await Promise.all(
          [1, 2, 3].map(() => store.claimApprovalAction('approval-sweep', 'reminder', '2026-01-05T10:00:00.000Z')),
        );
        expect(reminded.filter(Boolean)).toHaveLength(1);
        expect(reminded.find(Boolean)).toMatchObject({
          reminderSentAt: '2026-01-05T10:00:00.000Z',
          approvers: ['ops@example.com'],
        });
        const escalated = await store.claimApprovalAction('approval-sweep', 'escalation', '2026-01-05T11:00:00.000Z', [
          'boss@example.com',
        ]);
        expect(escalated).toMatchObject({
          escalatedAt: '2026-01-05T11:00:00.000Z',
          approvers: ['ops@example.com', 'boss@example.com'],
        });
        expect(
          await store.claimApprovalAction('approval-sweep', 'escalation', '2026-01-05T12:00:00.000Z', [
            'x@example.com',
          ]),
        ).toBeUndefined();
        await store.putApproval(approval('approval-decided', 'run-x', { status: 'expired' }));
        expect(
          await store.claimApprovalAction('approval-decided', 'reminder', '2026-01-05T10:00:00.000Z'),
        ).toBeUndefined();
      });
    });

    describe('side effects and rate limits', () => {
      it('claims a side-effecting call once: a second claim is in doubt until its outcome is recorded, then replays it', async () => {
        const runId = newRunId();
        const recorded = {
          result: {
            type: 'tool_result' as const,
            callId: 'toolu_01#x',
            name: 'github__merge_pr',
            content: 'merged',
            isError: false,
          },
          trace: {
            kind: 'tool_call' as const,
            role: 'maker' as const,
            name: 'github.merge_pr',
            status: 'ok' as const,
            startedAt: 'a',
            endedAt: 'b',
            latencyMs: 12,
          },
        };
        expect(await store.claimSideEffect(runId, 'toolu_01#x', 'github.merge_pr', '2026-01-05T08:00:00.000Z')).toEqual(
          { state: 'claimed' },
        );
        expect(await store.claimSideEffect(runId, 'toolu_01#x', 'github.merge_pr', '2026-01-05T08:00:05.000Z')).toEqual(
          { state: 'in_doubt', startedAt: '2026-01-05T08:00:00.000Z' },
        );
        await store.completeSideEffect(runId, 'toolu_01#x', recorded, '2026-01-05T08:00:01.000Z');
        expect(await store.claimSideEffect(runId, 'toolu_01#x', 'github.merge_pr', '2026-01-05T08:00:09.000Z')).toEqual(
          { state: 'completed', recorded },
        );
        // Another call of the same run is its own claim.
        expect(await store.claimSideEffect(runId, 'toolu_02', 'github.merge_pr', '2026-01-05T08:00:09.000Z')).toEqual({
          state: 'claimed',
        });
      });

      it("records a claimed call's outcome with a step's commit, and refuses the whole commit for a call never claimed", async () => {
        const isolated = await fresh();
        const meta = runMeta();
        await isolated.createRun(meta);
        const recorded = {
          result: {
            type: 'tool_result' as const,
            callId: 'toolu_07',
            name: 'git__git_push',
            content: 'pushed',
            isError: false,
          },
          trace: {
            kind: 'tool_call' as const,
            role: 'maker' as const,
            name: 'git.git_push',
            status: 'ok' as const,
            startedAt: 'a',
            endedAt: 'b',
            latencyMs: 40,
          },
        };
        const at = '2026-01-05T08:00:02.000Z';
        // Never claimed: nothing of the commit is written, the run stays where it was.
        const unclaimed = { ...stepCommit(meta, { trace: 1 }), sideEffects: [{ callId: 'toolu_07', recorded, at }] };
        await expect(isolated.commit(meta.runId, unclaimed)).rejects.toThrow();
        expect((await isolated.getRun(meta.runId))?.seq).toBe(meta.seq);
        expect(await isolated.listTrace(meta.runId)).toEqual([]);

        expect(
          await isolated.claimSideEffect(meta.runId, 'toolu_07', 'git.git_push', '2026-01-05T08:00:00.000Z'),
        ).toEqual({
          state: 'claimed',
        });
        expect(await isolated.commit(meta.runId, unclaimed)).toBe('committed');
        expect(
          await isolated.claimSideEffect(meta.runId, 'toolu_07', 'git.git_push', '2026-01-05T08:00:09.000Z'),
        ).toEqual({
          state: 'completed',
          recorded,
        });
      });

      it('counts a rate window exactly under concurrency: 30 racing takes against a limit of 10', async () => {
        const results = await Promise.all(
          Array.from({ length: 30 }, () =>
            store.takeRateToken('tool:github.merge_pr', '2026-01-05T08:00:00.000Z', 10, 1_767_603_600),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(10);
        // The next window starts afresh.
        expect(await store.takeRateToken('tool:github.merge_pr', '2026-01-05T08:01:00.000Z', 10, 1_767_603_660)).toBe(
          true,
        );
      });
    });

    describe('budget ledger', () => {
      const line = {
        name: 'b',
        scope: 'team' as const,
        key: 'platform',
        period: 'day' as const,
        periodKey: '2026-01-05',
        limitMicros: 100,
        reserveMicros: 60,
        reserveTokens: 10,
      };

      it('reserves a budget charge once, refuses one that does not fit, and settles it once', async () => {
        const charge = { chargeId: 'r-1-c1-x', runId: 'r-1', lines: [line], at: '2026-01-05T08:00:00.000Z' };
        expect(await store.reserveBudget(charge)).toEqual({ ok: true });
        expect(await store.reserveBudget(charge)).toEqual({ ok: true }); // a retry: counted once
        expect(await store.getBudgetUsage('team', 'platform', '2026-01-05')).toMatchObject({
          usedMicros: 60,
          spentMicros: 0,
        });
        const second = { ...charge, chargeId: 'r-2-c1-y', runId: 'r-2' };
        expect(await store.reserveBudget(second)).toEqual({
          ok: false,
          line,
          usedMicros: 60,
          usedTokens: 10,
          spentMicros: 0,
          spentTokens: 0,
        });
        await store.settleBudget(charge, { micros: 25, tokens: 7 });
        await store.settleBudget(charge, { micros: 25, tokens: 7 }); // a retry: settled once
        expect(await store.getBudgetUsage('team', 'platform', '2026-01-05')).toEqual({
          usedMicros: 25,
          usedTokens: 7,
          spentMicros: 25,
          spentTokens: 7,
        });
        expect(await store.reserveBudget(second)).toEqual({ ok: true });
        // The refused reservation left no ledger row, so nothing else changed.
        expect(await store.getBudgetUsage('team', 'platform', '2026-01-05')).toMatchObject({ usedMicros: 85 });
      });

      it('releases a reservation once, so the same charge may be reserved again; a settled charge stays', async () => {
        const released = { ...line, key: 'released' };
        const charge = { chargeId: 'r-3-c1-z', runId: 'r-3', lines: [released], at: '2026-01-05T08:00:00.000Z' };
        expect(await store.reserveBudget(charge)).toEqual({ ok: true });
        await store.releaseBudget(charge);
        await store.releaseBudget(charge); // a retry: given back once
        expect(await store.getBudgetUsage('team', 'released', '2026-01-05')).toEqual({
          usedMicros: 0,
          usedTokens: 0,
          spentMicros: 0,
          spentTokens: 0,
        });
        expect(await store.reserveBudget(charge)).toEqual({ ok: true });
        await store.settleBudget(charge, { micros: 30, tokens: 3 });
        await store.releaseBudget(charge);
        expect(await store.getBudgetUsage('team', 'released', '2026-01-05')).toEqual({
          usedMicros: 30,
          usedTokens: 3,
          spentMicros: 30,
          spentTokens: 3,
        });
      });

      it('claims each alert once', async () => {
        expect(await store.claimAlert('team-daily', '2026-01-05', 0.8, '2026-01-05T08:00:00.000Z')).toBe(true);
        expect(await store.claimAlert('team-daily', '2026-01-05', 0.8, '2026-01-05T08:01:00.000Z')).toBe(false);
        expect(await store.claimAlert('team-daily', '2026-01-05', 1, '2026-01-05T08:01:00.000Z')).toBe(true);
      });

      it("adds a step's spend to the daily rollups in its commit, and lists them by day", async () => {
        const isolated = await fresh();
        const meta = runMeta();
        await isolated.createRun(meta);
        const spend = (role: 'maker' | 'checker', date: string) => ({
          dimension: 'team' as const,
          key: 'platform',
          date,
          role,
          costMicros: 40,
          inputTokens: 10,
          outputTokens: 5,
          calls: 1,
        });
        const first = { ...stepCommit(meta), rollups: [spend('maker', '2026-01-05')] };
        expect(await isolated.commit(meta.runId, first)).toBe('committed');
        // A stale commit adds nothing.
        expect(await isolated.commit(meta.runId, first)).toBe('stale');
        const second = { ...stepCommit(first.meta), rollups: [spend('checker', '2026-01-05')] };
        expect(await isolated.commit(meta.runId, second)).toBe('committed');
        const third = { ...stepCommit(second.meta), rollups: [spend('maker', '2026-01-07')] };
        expect(await isolated.commit(meta.runId, third)).toBe('committed');
        expect(await isolated.listRollups('team', '2026-01-05', '2026-01-06')).toEqual([
          {
            dimension: 'team',
            key: 'platform',
            date: '2026-01-05',
            costMicros: 80,
            checkerCostMicros: 40,
            inputTokens: 20,
            outputTokens: 10,
            calls: 2,
          },
        ]);
        expect((await isolated.listRollups('team', '2026-01-01', '2026-01-31')).map((row) => row.date)).toEqual([
          '2026-01-05',
          '2026-01-07',
        ]);
        expect(await isolated.listRollups('agent', '2026-01-01', '2026-01-31')).toEqual([]);
      });
    });
  });
}
