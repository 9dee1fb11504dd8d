import { beforeAll, describe, expect, it } from 'vitest';
import type { RunMeta } from '../../../core/definitions/run.ts';
import { ConcurrencyLimitError, TransientError, ValidationError } from '../../../core/errors.ts';
import type { RunStore } from '../../../core/ports/run-store.ts';
import type { StepCommit } from '../../../core/ports/store/runs.ts';
import { StepWriter } from '../../../core/run/step-writer.ts';
import { approval, context, newRunId, runMeta, stepCommit, traceEvent, userMessage } from '../run-store-fixtures.ts';

/** The run records port: creates, seq-guarded commits, reads, pages, concurrency slots, listings. */
export function runRecordsContract(fresh: () => Promise<RunStore>): void {
  describe('the run records port', () => {
    let store: RunStore;
    beforeAll(async () => {
      store = await fresh();
    });

    /** A run created and taken through StartRun: snapshot, first message, first trace event. */
    async function startedRun(overrides: Partial<RunMeta> = {}): Promise<RunMeta> {
      const meta = runMeta(overrides);
      await store.createRun(meta);
      const commit = stepCommit(meta, { context, messages: [userMessage('triage acme/shop')], trace: 1 });
      expect(await store.commit(meta.runId, commit)).toBe('committed');
      return commit.meta;
    }

    /** Everything a run's reads return: what a refused or stale commit must leave as it was. */
    async function snapshot(runId: string) {
      return { state: await store.loadState(runId), trace: await store.listTrace(runId) };
    }

    describe('run records', () => {
      it('creates a run once: a repeated create returns the stored run', async () => {
        const meta = runMeta();
        expect(await store.createRun(meta)).toEqual({ created: true, meta });
        const again = await store.createRun({ ...meta, input: { repo: 'other/repo' }, principal: 'someone-else' });
        expect(again).toEqual({ created: false, meta });
        expect(await store.getRun(meta.runId)).toEqual(meta);
      });

      it('answers undefined for a run that does not exist', async () => {
        expect(await store.getRun('no-such-run')).toBeUndefined();
        expect(await store.loadState('no-such-run')).toBeUndefined();
        expect(await store.listTrace('no-such-run')).toEqual([]);
      });

      it('loads the record, the snapshot and the conversation in order, without trace events', async () => {
        const started = await startedRun();
        // Twelve more messages: seq 10 must come after seq 9.
        const texts = Array.from({ length: 12 }, (_, i) => `message ${i + 2}`);
        const next = stepCommit(started, { messages: texts.map(userMessage), trace: 3 });
        expect(await store.commit(started.runId, next)).toBe('committed');
        const state = await store.loadState(started.runId);
        expect(state?.meta).toEqual(next.meta);
        expect(state?.context).toEqual(context);
        expect(state?.messages.map((m) => (m.content[0] as { text: string }).text)).toEqual([
          'triage acme/shop',
          ...texts,
        ]);
        expect((await store.listTrace(started.runId)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      });

      it('loads a run without a snapshot', async () => {
        const meta = runMeta();
        await store.createRun(meta);
        expect(await store.loadState(meta.runId)).toEqual({ meta, messages: [] });
      });

      it('loads only the newest messages when asked, in order, with the record and snapshot', async () => {
        const started = await startedRun();
        expect(
          await store.commit(started.runId, stepCommit(started, { messages: ['a', 'b', 'c'].map(userMessage) })),
        ).toBe('committed');
        const full = await store.loadState(started.runId);
        expect(await store.loadState(started.runId, { lastMessages: 2 })).toEqual({
          ...full,
          messages: full!.messages.slice(-2),
        });
        expect(await store.loadState(started.runId, { lastMessages: 0 })).toEqual({ ...full, messages: [] });
        expect((await store.loadState(started.runId, { lastMessages: 100 }))?.messages).toEqual(full!.messages);
        expect(await store.loadState('no-such-run', { lastMessages: 1 })).toBeUndefined();
      });

      it('reads the same newest messages with the count the caller was handed, whether the record confirms it or not', async () => {
        // Numbered as the steps number them (from 0), which reading by key relies on.
        const meta = runMeta();
        await store.createRun(meta);
        const writer = new StepWriter(meta);
        writer.setContext(context);
        for (const text of ['task', 'a', 'b', 'c']) writer.addMessage(userMessage(text));
        await writer.commit({ store }, 'model');
        const started = writer.meta;
        const newest = await store.loadState(started.runId, { lastMessages: 2 });
        expect(newest?.meta.messageCount).toBe(4);
        expect(newest?.messages).toEqual([userMessage('b'), userMessage('c')]);
        for (const messageCount of [4, 3, 5, 0, 1_000])
          expect(await store.loadState(started.runId, { lastMessages: 2, messageCount }), `${messageCount}`).toEqual(
            newest,
          );
        expect(await store.loadState(started.runId, { lastMessages: 0, messageCount: 4 })).toEqual({
          ...newest,
          messages: [],
        });
        expect(await store.loadState('no-such-run', { lastMessages: 1, messageCount: 1 })).toBeUndefined();
      });

      it('applies a commit whole: record, messages and trace events together', async () => {
        const started = await startedRun();
        const commit = stepCommit(started, { messages: [userMessage('a'), userMessage('b')], trace: 2 });
        expect(await store.commit(started.runId, commit)).toBe('committed');
        expect(await store.getRun(started.runId)).toEqual(commit.meta);
        expect((await store.loadState(started.runId))?.messages).toHaveLength(3);
        expect((await store.listTrace(started.runId)).map((e) => e.seq)).toEqual([1, 2, 3]);
      });

      it('answers stale to a second commit at the same seq and writes nothing', async () => {
        const started = await startedRun();
        const first = stepCommit(started, { messages: [userMessage('first')], trace: 1 });
        const retry = stepCommit(started, { messages: [userMessage('retry'), userMessage('retry 2')], trace: 2 });
        expect(await store.commit(started.runId, first)).toBe('committed');
        const before = await snapshot(started.runId);
        expect(await store.commit(started.runId, retry)).toBe('stale');
        expect(await snapshot(started.runId)).toEqual(before);
        expect(before.state?.meta).toEqual(first.meta);
        expect(before.state?.messages.at(-1)).toEqual(userMessage('first'));
      });

      it('answers stale to a commit for a run that was never created', async () => {
        const meta = runMeta();
        expect(await store.commit(meta.runId, stepCommit(meta, { messages: [userMessage('x')] }))).toBe('stale');
        expect(await store.getRun(meta.runId)).toBeUndefined();
      });

      it('refuses a commit of more than 100 items with a ValidationError and writes nothing', async () => {
        const started = await startedRun();
        const before = await snapshot(started.runId);
        const error = await store.commit(started.runId, stepCommit(started, { trace: 100 })).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as Error).message).toMatch(/101 items .*100 trace events.*at most 100/);
        expect(await snapshot(started.runId)).toEqual(before);
      });

      it('commits exactly 100 items', async () => {
        const started = await startedRun();
        expect(await store.commit(started.runId, stepCommit(started, { trace: 99 }))).toBe('committed');
        expect(await store.listTrace(started.runId)).toHaveLength(100);
      });

      it('refuses a record whose seq does not follow expectedSeq', async () => {
        const started = await startedRun();
        const commit = stepCommit(started);
        await expect(store.commit(started.runId, { ...commit, meta: { ...commit.meta, seq: 5 } })).rejects.toThrow(
          /must move seq from 1 to 2, but its record has seq 5/,
        );
      });

      it('never overwrites history: a reused message seq fails the whole commit', async () => {
        const started = await startedRun(); // message 1 exists
        const before = await snapshot(started.runId);
        const commit = stepCommit(started, { messages: [userMessage('again')], trace: 1 });
        const clashing: StepCommit = { ...commit, messages: [{ seq: 1, message: userMessage('again') }] };
        await expect(store.commit(started.runId, clashing)).rejects.toThrow(/would overwrite MSG#000000001/);
        expect(await snapshot(started.runId)).toEqual(before);
      });

      it('turns an item too large to store into a ValidationError and writes nothing', async () => {
        const started = await startedRun();
        const content = 'x'.repeat(500_000);
        const huge = {
          role: 'tool' as const,
          content: [{ type: 'tool_result' as const, callId: 'c1', name: 'x__y', content, isError: false }],
        };
        const error = await store
          .commit(started.runId, stepCommit(started, { messages: [huge] }))
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect(await store.getRun(started.runId)).toEqual(started);
      });

      it('keeps untrusted keys: tool arguments and run input with keys DynamoDB maps refuse', async () => {
        const meta = runMeta({ input: { '': 'empty key', nested: { '': 1 } } });
        await store.createRun(meta);
        const odd = {
          role: 'assistant' as const,
          content: [{ type: 'tool_call' as const, id: 'c1', name: 'x__y', arguments: { '': 1 } }],
        };
        expect(await store.commit(meta.runId, stepCommit(meta, { messages: [odd] }))).toBe('committed');
        const state = await store.loadState(meta.runId);
        expect(state?.messages).toEqual([odd]);
        expect(state?.meta.input).toEqual({ '': 'empty key', nested: { '': 1 } });
      });

      it('lets exactly one of 20 racing commits at the same seq win', async () => {
        const started = await startedRun();
        const attempts = Array.from({ length: 20 }, (_, i) =>
          stepCommit(started, { messages: [userMessage(`attempt ${i}`)], trace: 1 }),
        );
        // As the state machine would: a transient failure is retried until committed or stale.
        const commitRetrying = async (commit: StepCommit): Promise<'committed' | 'stale'> => {
          for (;;) {
            try {
              return await store.commit(started.runId, commit);
            } catch (error) {
              if (!(error instanceof TransientError)) throw error;
            }
          }
        };
        const outcomes = await Promise.all(attempts.map(commitRetrying));
        expect(outcomes.filter((o) => o === 'committed')).toHaveLength(1);
        const winner = outcomes.indexOf('committed');
        const state = await store.loadState(started.runId);
        expect(state?.meta.seq).toBe(started.seq + 1);
        expect(state?.messages).toEqual([userMessage('triage acme/shop'), userMessage(`attempt ${winner}`)]);
        expect(await store.listTrace(started.runId)).toHaveLength(2);
      });

      it('pages through the trace and the conversation by seq', async () => {
        const started = await startedRun();
        const next = stepCommit(started, { messages: ['b', 'c', 'd', 'e'].map(userMessage), trace: 4 });
        expect(await store.commit(started.runId, next)).toBe('committed');
        const first = await store.listTracePage(started.runId, { limit: 2 });
        expect(first).toEqual({
          events: [traceEvent(started.runId, 1), traceEvent(started.runId, 2)],
          nextAfterSeq: 2,
        });
        const last = await store.listTracePage(started.runId, { afterSeq: 3, limit: 2 });
        expect(last.events.map((e) => e.seq)).toEqual([4, 5]);
        expect(last.nextAfterSeq).toBeUndefined();
        const messages = await store.listMessagesPage(started.runId, { afterSeq: 1, limit: 3 });
        expect(messages.messages.map((m) => m.seq)).toEqual([2, 3, 4]);
        expect(messages.messages[0]!.message).toEqual(userMessage('b'));
        expect(messages.nextAfterSeq).toBe(4);
        await expect(store.listTracePage(started.runId, { limit: 1001 })).rejects.toBeInstanceOf(ValidationError);
        expect(await store.listTracePage('no-such-run', { limit: 5 })).toEqual({ events: [] });
      });

      it("takes an agent's concurrency slot with the run, refuses a run past the limit, and frees the slot with the ending commit", async () => {
        const agent = `slots-${newRunId()}`;
        const first = runMeta({ agent });
        const created = await store.createRun(first, { concurrencyLimit: 1 });
        expect(created).toEqual({ created: true, meta: { ...first, concurrencyHeld: true } });
        // A repeated trigger of the held run is no new run, and takes no slot.
        expect((await store.createRun(first, { concurrencyLimit: 1 })).created).toBe(false);
        const second = runMeta({ agent });
        await expect(store.createRun(second, { concurrencyLimit: 1 })).rejects.toBeInstanceOf(ConcurrencyLimitError);
        expect(await store.getRun(second.runId)).toBeUndefined();
        const ending = stepCommit(created.meta);
        expect(await store.commit(first.runId, { ...ending, releaseConcurrency: agent })).toBe('committed');
        expect((await store.createRun(second, { concurrencyLimit: 1 })).created).toBe(true);
      });
    });

    describe('listings', () => {
      it('lists runs by agent, newest first', async () => {
        const agent = 'listing-agent';
        const times = [
          '2026-02-03T10:00:00.000Z',
          '2026-02-01T10:00:00.000Z',
          '2026-02-04T10:00:00.000Z',
          '2026-02-02T10:00:00.000Z',
        ];
        const runs = times.map((createdAt) => runMeta({ agent, createdAt }));
        for (const run of runs) await store.createRun(run);
        await store.createRun(runMeta({ agent: 'other-agent', createdAt: '2026-03-01T00:00:00.000Z' }));
        const listed = await store.listRuns({ agent });
        expect(listed.map((run) => run.createdAt)).toEqual([...times].sort().reverse());
        expect(listed[0]).toEqual(runs[2]);
        expect((await store.listRuns({ agent, limit: 2 })).map((run) => run.createdAt)).toEqual([
          '2026-02-04T10:00:00.000Z',
          '2026-02-03T10:00:00.000Z',
        ]);
        expect(await store.listRuns({ agent: 'nobody' })).toEqual([]);
      });

      it('lists runs of every agent, newest first, and only runs', async () => {
        const isolated = await fresh();
        const runs = [
          runMeta({ agent: 'a', createdAt: '2026-01-01T00:00:00.000Z' }),
          runMeta({ agent: 'b', createdAt: '2026-01-03T00:00:00.000Z' }),
          runMeta({ agent: 'c', createdAt: '2026-01-02T00:00:00.000Z' }),
        ];
        for (const run of runs) await isolated.createRun(run);
        await isolated.putApproval(approval('approval-in-listing', runs[0]!.runId));
        expect((await isolated.listRuns({})).map((run) => run.agent)).toEqual(['b', 'c', 'a']);
        expect((await isolated.listRuns({ limit: 1 })).map((run) => run.agent)).toEqual(['b']);
        expect((await isolated.listRuns({ agents: ['a', 'c', 'a'] })).map((run) => run.agent)).toEqual(['c', 'a']);
        await expect(isolated.listRuns({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      });

      it('pages through runs with a cursor and filters them by status and role, with and without an agent', async () => {
        const isolated = await fresh();
        const agent = 'paging-agent';
        // Two runs share a millisecond: the run id breaks the tie, so no page repeats or skips one.
        const runs = [
          runMeta({ agent, runId: 'r-page-a', createdAt: '2026-04-01T00:00:00.000Z' }),
          runMeta({ agent, runId: 'r-page-b', createdAt: '2026-04-02T00:00:00.000Z', status: 'finished' }),
          runMeta({ agent, runId: 'r-page-c', createdAt: '2026-04-02T00:00:00.000Z' }),
          runMeta({ agent, runId: 'r-page-d', createdAt: '2026-04-03T00:00:00.000Z', role: 'checker' }),
          runMeta({ agent: 'another', runId: 'r-page-e', createdAt: '2026-04-04T00:00:00.000Z' }),
        ];
        for (const run of runs) await isolated.createRun(run);
        for (const scope of [{ agent }, {}]) {
          const seen: string[] = [];
          let cursor: { createdAt: string; runId: string } | undefined;
          for (let page = 0; page < 10; page++) {
            const listed = await isolated.listRuns({ ...scope, limit: 2, cursor });
            seen.push(...listed.map((run) => run.runId));
            if (listed.length < 2) break;
            cursor = { createdAt: listed.at(-1)!.createdAt, runId: listed.at(-1)!.runId };
          }
          const expected = ['r-page-d', 'r-page-c', 'r-page-b', 'r-page-a'];
          expect(seen).toEqual('agent' in scope ? expected : ['r-page-e', ...expected]);
          const makers = await isolated.listRuns({ ...scope, role: 'maker', limit: 2 });
          expect(makers.map((run) => run.runId)).toEqual(
            'agent' in scope ? ['r-page-c', 'r-page-b'] : ['r-page-e', 'r-page-c'],
          );
          expect((await isolated.listRuns({ ...scope, status: 'finished' })).map((run) => run.runId)).toEqual([
            'r-page-b',
          ]);
          expect(await isolated.listRuns({ ...scope, status: 'paused' })).toEqual([]);
          const window = { createdFrom: '2026-04-02T00:00:00.000Z', createdBefore: '2026-04-03T00:00:00.000Z' };
          expect((await isolated.listRuns({ ...scope, ...window })).map((run) => run.runId)).toEqual([
            'r-page-c',
            'r-page-b',
          ]);
        }
      });
    });
  });
}
