import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { MAX_RESULT_CHARS } from '../../core/run/tool-step.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import { testHost } from '../support/local-host.ts';

/** A tool that answers with far more than fits in one stored item: the result is cut, with a marker, and the run goes on. */

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
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org', { wrapDeps: (deps) => ({ ...deps, tools: oversized(deps.tools) }) });
});
afterAll(async () => {
  await host?.close();
});

describe('a tool result over the size limit', () => {
  it('is cut with a marker before it is stored, and the trace says so', async () => {
    const { runId, meta } = await host.run({ agent: 'crash', input: {} });
    expect(meta.stopReason).toBe('verified');
    const state = await host.deps.store.loadState(runId);
    const result = state!.messages[2]!.content[1] as { content: string };
    expect(result.content.length).toBeLessThan(MAX_RESULT_CHARS + 100);
    expect(result.content).toMatch(/\[… result cut: 152000 more characters\]$/);
    const call = (await host.deps.store.listTrace(runId)).find((e) => e.name === 'everything.get-sum')!;
    expect(call.detail).toBe('result cut from 200000 characters');
  });
});
