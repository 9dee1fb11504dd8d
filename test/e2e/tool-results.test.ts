import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { MAX_RESULT_CHARS } from '../../core/run/tools/governed-call.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import { testHost } from '../support/local-host.ts';

/** A tool that answers with far more than fits in one stored item: the result is offloaded (or, without a result store, cut with a marker), and the run goes on. */

const HUGE = 'x'.repeat(200_000);

function oversized(tools: ToolGateway): ToolGateway {
  return {
    listTools: (server) => tools.listTools(server),
    close: () => tools.close(),
    async callTool(server, tool, args, options) {
      const result = await tools.callTool(server, tool, args, options);
      return tool === 'get-sum' ? { ...result, content: HUGE } : result;
    },
  };
}

let host: LocalHost;
let cutting: LocalHost;
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org', { wrapDeps: (deps) => ({ ...deps, tools: oversized(deps.tools) }) });
  // A runtime without a result store (and the MCP gateway endpoint, whose clients have no read_result) cuts instead.
  cutting = await testHost('test/fixtures/loop-org', {
    wrapDeps: (deps) => ({ ...deps, tools: oversized(deps.tools), results: undefined }),
  });
});
afterAll(async () => {
  await host?.close();
  await cutting?.close();
});

describe('a tool result over the size limit', () => {
  it("is offloaded to the run's store: the conversation gets a preview and a handle, the trace the handle, nothing is lost", async () => {
    const { runId, meta } = await host.run({ agent: 'crash', input: {} });
    expect(meta.stopReason).toBe('verified');
    const state = await host.deps.store.loadState(runId);
    const result = state!.messages[2]!.content[1] as { content: string; callId: string };
    const handle = `${runId}/${result.callId}`;
    expect(result.content.length).toBeLessThan(2_000);
    expect(result.content).toContain(
      `[result stored, not shown in full: 200000 characters, ~50000 tokens, 1 lines. handle: ${handle}`,
    );
    const call = (await host.deps.store.listTrace(runId)).find((e) => e.name === 'everything.get-sum')!;
    expect(call).toMatchObject({
      resultHandle: handle,
      detail: `result offloaded: 200000 characters (~50000 tokens) stored as ${handle}`,
    });
    const stored = await host.deps.results!.getResult(runId, result.callId);
    expect(stored.state === 'found' && stored.result.text).toBe(HUGE);
    expect((await host.deps.store.getRun(runId))!.offloadedResults).toEqual([handle]);
  });

  it('is cut with a marker before it is stored where there is no result store, and the trace says so', async () => {
    const { runId, meta } = await cutting.run({ agent: 'crash', input: {} });
    expect(meta.stopReason).toBe('verified');
    const state = await cutting.deps.store.loadState(runId);
    const result = state!.messages[2]!.content[1] as { content: string };
    expect(result.content.length).toBeLessThan(MAX_RESULT_CHARS + 100);
    expect(result.content).toMatch(/\[… result cut: 152000 more characters\]$/);
    const call = (await cutting.deps.store.listTrace(runId)).find((e) => e.name === 'everything.get-sum')!;
    expect(call.detail).toBe('result cut from 200000 characters');
  });
});
