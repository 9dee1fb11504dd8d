import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_CHARS, DynamoResultStore, splitChunks } from '../../adapters/dynamodb/result-store.ts';
import { newRunMeta } from '../../core/run/request-run.ts';
import { resultHandle } from '../../core/run/offload.ts';
import { readResultCall } from '../../core/run/tools/read-result.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import type { StartedRunState } from '../../core/run/load.ts';
import type { AgentView } from '../../core/definitions/context.ts';
import { testTable, type TestTable } from '../support/dynamodb.ts';

/** Offloaded results on DynamoDB Local: chunked under the item limit, refused across runs, expired with retention. */

let table: TestTable;
let now = new Date('2026-11-24T08:00:00Z');
const clock = { now: () => now };
let store: DynamoResultStore;

beforeAll(async () => {
  table = await testTable();
  store = new DynamoResultStore({ client: table.client, tableName: table.tableName, ttlSeconds: 3600, clock });
});
afterAll(() => table?.client.destroy());

function stateOf(runId: string, handles: string[]): StartedRunState {
  const view = {
    role: 'maker',
    limits: { offload: { resultTokens: 100, turnTokens: 200, previewChars: 50 } },
  } as unknown as AgentView;
  const meta = newRunMeta({
    runId,
    agent: 'a',
    principal: 'p',
    trigger: { kind: 'cli' },
    input: {},
    createdAt: now.toISOString(),
  });
  meta.offloadedResults = handles;
  return { meta, messages: [], context: { view, systemPrompt: '', tools: [] } };
}

const deps = () => ({ results: store, clock }) as unknown as RunDeps;
const read = (state: StartedRunState, args: Record<string, unknown>) =>
  readResultCall(deps(), state, { type: 'tool_call', id: 'c1', name: 'looprail__read_result', arguments: args });

describe('the result store', () => {
  it('stores a result larger than one item in chunks and reads it back whole, multi-byte text included', async () => {
    // 3 bytes per character in UTF-8, and surrogate pairs across chunk borders.
    const text = `${'€'.repeat(CHUNK_CHARS - 1)}😀${'ü'.repeat(CHUNK_CHARS * 2)}`;
    await store.putResult('r-one', 'toolu_1', { tool: 'fs.read', text, createdAt: now.toISOString() });
    const found = await store.getResult('r-one', 'toolu_1');
    expect(found).toEqual({ state: 'found', result: { tool: 'fs.read', text, createdAt: now.toISOString() } });
    expect(splitChunks(text, CHUNK_CHARS).every((chunk) => Buffer.byteLength(chunk) < 200_000)).toBe(true);
    expect(splitChunks(text, CHUNK_CHARS).join('')).toBe(text);
  });

  it('answers missing for a result it never stored, and expired once the retention has passed', async () => {
    expect(await store.getResult('r-one', 'toolu_never')).toEqual({ state: 'missing' });
    await store.putResult('r-two', 'toolu_2', {
      tool: 'fs.read',
      text: 'line a\nline b',
      createdAt: now.toISOString(),
    });
    now = new Date(now.getTime() + 3601_000);
    expect(await store.getResult('r-two', 'toolu_2')).toEqual({ state: 'expired' });
    now = new Date('2026-11-24T08:00:00Z');
  });
});

describe('looprail__read_result', () => {
  it("pages, slices lines and greps one of the run's results", async () => {
    const text = Array.from({ length: 50 }, (_, i) => `row ${i + 1}${i === 30 ? ' ERROR disk full' : ''}`).join('\n');
    await store.putResult('r-three', 'toolu_3', { tool: 'ci.log', text, createdAt: now.toISOString() });
    const handle = resultHandle('r-three', 'toolu_3');
    const state = stateOf('r-three', [handle]);
    const page = await read(state, { handle, offset: 0, limit: 14 });
    expect(page.result).toMatchObject({
      isError: false,
      content: `row 1\nrow 2\nro\n[characters 0–14 of ${text.length}; continue with offset 14]`,
    });
    expect((await read(state, { handle, start_line: 30, end_line: 31 })).result.content).toBe(
      'row 30\nrow 31 ERROR disk full',
    );
    expect((await read(state, { handle, grep: 'error' })).result.content).toBe('31: row 31 ERROR disk full');
    expect((await read(state, { handle, grep: 'nothing like this' })).result.content).toBe(
      `no line of ${handle} contains "nothing like this"`,
    );
    // A page is never bigger than the per-call threshold (100 tokens ≈ 400 characters here).
    expect((await read(state, { handle, limit: 10_000 })).result.content.length).toBeLessThan(460);
    const traced = await read(state, { handle, grep: 'error' });
    expect(traced.trace).toMatchObject({
      kind: 'tool_call',
      name: 'looprail.read_result',
      status: 'ok',
      resultHandle: handle,
      detail: `grep "error" in ${handle}: 1 lines`,
    });
  });

  it('refuses bad arguments, foreign and unknown handles, and says clearly when a result expired', async () => {
    await store.putResult('r-four', 'toolu_4', { tool: 'ci.log', text: 'old', createdAt: now.toISOString() });
    const handle = resultHandle('r-four', 'toolu_4');
    const state = stateOf('r-four', [handle]);
    expect((await read(state, { handle, start_line: 5, end_line: 2 })).result.content).toContain(
      'end_line must not be before start_line',
    );
    expect((await read(state, {})).result.content).toContain('invalid arguments for looprail__read_result: handle:');
    expect((await read(state, { handle: 'no-slash' })).result.content).toContain('is not a result handle');
    const foreign = await read(state, { handle: resultHandle('r-three', 'toolu_3') });
    expect(foreign.kind).toBe('denied');
    expect(foreign.result.content).toBe(
      'refused: handle r-three/toolu_3 belongs to another run; a run reads only its own stored results',
    );
    expect((await read(state, { handle: resultHandle('r-four', 'toolu_other') })).result.content).toBe(
      `this run has no stored result with handle r-four/toolu_other (its handles: ${handle})`,
    );
    expect((await read(state, { handle, offset: 99 })).result.content).toBe(
      `${handle} has 3 characters; offset 99 is past its end`,
    );
    now = new Date(now.getTime() + 7200_000);
    const expired = await read(state, { handle });
    expect(expired.result).toMatchObject({
      isError: true,
      content: `the stored result ${handle} has expired (results are kept only as long as the run's trace retention) and is no longer available; call the tool again if you still need it`,
    });
    now = new Date('2026-11-24T08:00:00Z');
  });
});
