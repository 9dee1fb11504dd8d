import { beforeAll, describe, expect, it } from 'vitest';
import { type RunMeta, RunStatus, type StopReason } from '../../../core/definitions/run.ts';
import type { RunStore } from '../../../core/ports/run-store.ts';
import type { RunCursor, RunQuery } from '../../../core/ports/store/runs.ts';
import { approval, runMeta, stepCommit } from '../run-store-fixtures.ts';

/**
 * Listings across agents: every filter, alone and together, read page after page with the
 * cursor, must give exactly the runs a plain filter-and-sort of the records gives.
 */

const AGENTS = ['alpha', 'beta', 'gamma'];

/**
 * 20 runs of three agents over ten days, two a day (so the run id breaks ties), every status
 * (ended ones with a stop reason), both roles and two trigger kinds, in no particular order.
 */
function dataset(): RunMeta[] {
  return Array.from({ length: 20 }, (_, n) => {
    const i = (n * 7) % 20; // created out of order
    const status = RunStatus.options[i % RunStatus.options.length]!;
    const stopReason: StopReason | undefined =
      status === 'finished' ? 'verified' : status === 'failed' ? (i % 2 ? 'error' : 'max_steps') : undefined;
    return runMeta({
      agent: AGENTS[i % AGENTS.length]!,
      runId: `list-${String(i).padStart(2, '0')}`,
      createdAt: `2026-05-${String(1 + Math.floor(i / 2)).padStart(2, '0')}T09:00:00.000Z`,
      status,
      role: i % 4 === 3 ? 'checker' : 'maker',
      trigger: { kind: i % 3 === 0 ? 'schedule' : 'api' },
      ...(stopReason ? { stopReason } : {}),
    });
  });
}

/** What a listing must return: the filters applied to every record, newest first. */
function expected(runs: RunMeta[], query: RunQuery): string[] {
  return runs
    .filter(
      (run) =>
        (query.status === undefined || run.status === query.status) &&
        (query.role === undefined || run.role === query.role) &&
        (query.stopReason === undefined || run.stopReason === query.stopReason) &&
        (query.triggerKind === undefined || run.trigger.kind === query.triggerKind) &&
        (query.createdFrom === undefined || run.createdAt >= query.createdFrom) &&
        (query.createdBefore === undefined || run.createdAt < query.createdBefore),
    )
    .map((run) => `${run.createdAt}#${run.runId}`)
    .sort()
    .reverse()
    .map((position) => position.split('#')[1]!);
}

/** Every page of a listing, each one's run ids. */
async function pages(store: RunStore, query: RunQuery, limit: number): Promise<string[][]> {
  const read: string[][] = [];
  let cursor: RunCursor | undefined;
  for (let page = 0; page < 30; page++) {
    const listed = await store.listRuns({ ...query, limit, cursor });
    read.push(listed.map((run) => run.runId));
    if (listed.length < limit) return read;
    cursor = { createdAt: listed.at(-1)!.createdAt, runId: listed.at(-1)!.runId };
  }
  throw new Error(`listing ${JSON.stringify(query)} did not end within 30 pages of ${limit}`);
}

export function listingsContract(fresh: () => Promise<RunStore>): void {
  describe('listings across agents', () => {
    let store: RunStore;
    const runs = dataset();
    beforeAll(async () => {
      store = await fresh();
      for (const run of runs) await store.createRun(run);
      // Not runs: an approval and a budget charge, which carry a status of their own.
      await store.putApproval(approval('listed-never', runs[0]!.runId));
      await store.reserveBudget({
        chargeId: 'charge-listed-never',
        runId: runs[0]!.runId,
        at: runs[0]!.createdAt,
        lines: [],
      });
    });

    const queries: Array<[string, RunQuery]> = [
      ['every run', {}],
      ...RunStatus.options.map((status): [string, RunQuery] => [`status ${status}`, { status }]),
      ['makers', { role: 'maker' }],
      ['finished makers', { status: 'finished', role: 'maker' }],
      ['a time window', { createdFrom: '2026-05-03T09:00:00.000Z', createdBefore: '2026-05-08T00:00:00.000Z' }],
      ['from a time on', { createdFrom: '2026-05-06T00:00:00.000Z' }],
      ['before a time', { createdBefore: '2026-05-04T09:00:00.000Z' }],
      ['a stop reason', { stopReason: 'error' }],
      ['scheduled makers', { triggerKind: 'schedule', role: 'maker' }],
      ['paused makers in a window', { status: 'paused', role: 'maker', createdFrom: '2026-05-02T00:00:00.000Z' }],
    ];

    for (const [name, query] of queries) {
      it(`lists ${name} newest first, page after page, each run once`, async () => {
        const want = expected(runs, query);
        expect(want.length, 'the dataset has runs for every listing').toBeGreaterThan(0);
        for (const limit of [2, 3, 50]) {
          const read = await pages(store, query, limit);
          expect(read.flat(), `limit ${limit}`).toEqual(want);
          expect(read.length, `limit ${limit}`).toBe(Math.floor(want.length / limit) + 1);
        }
      });
    }

    it('lists nothing for an empty window, or after a cursor older than the window', async () => {
      expect(
        await store.listRuns({ createdFrom: '2026-05-05T00:00:00.000Z', createdBefore: '2026-05-04T00:00:00.000Z' }),
      ).toEqual([]);
      const cursor = { createdAt: '2026-05-02T09:00:00.000Z', runId: 'list-02' };
      expect(await store.listRuns({ createdFrom: '2026-05-03T00:00:00.000Z', cursor })).toEqual([]);
      expect((await store.listRuns({ cursor })).map((run) => run.runId)).toEqual(['list-01', 'list-00']);
    });

    it('lists a run under the status it has now, once, after a commit changed it', async () => {
      const isolated = await fresh();
      const queued = runMeta({ agent: 'delta', runId: 'moving-1', createdAt: '2026-06-01T00:00:00.000Z' });
      await isolated.createRun(queued);
      const commit = stepCommit(queued);
      const paused: RunMeta = { ...commit.meta, status: 'paused', pendingApprovalId: 'moving-approval' };
      expect(await isolated.commit(queued.runId, { ...commit, meta: paused })).toBe('committed');
      expect(await isolated.listRuns({ status: 'queued' })).toEqual([]);
      expect(await isolated.listRuns({ status: 'paused' })).toEqual([paused]);
      expect(await isolated.listRuns({})).toEqual([paused]);
    });
  });
}
