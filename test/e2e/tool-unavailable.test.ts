import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { ToolUnavailableError } from '../../core/errors.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import { testHost } from '../support/local-host.ts';

/**
 * A server that drops a call (crash, lost connection) after the request may have reached
 * it: a read-only call is safe to repeat and is tried again; a call that may write is not
 * repeated blindly, and the model is told the outcome is unknown.
 */

const calls: string[] = [];
const failedOnce = new Set<string>();

function flaky(tools: ToolGateway): ToolGateway {
  return {
    listTools: (server) => tools.listTools(server),
    close: () => tools.close(),
    async callTool(server, tool, args, options) {
      calls.push(tool);
      if (!failedOnce.has(tool)) {
        failedOnce.add(tool);
        throw new ToolUnavailableError(`MCP server "${server.name}": the connection closed during the call`);
      }
      return tools.callTool(server, tool, args, options);
    },
  };
}

let host: LocalHost;
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org', { wrapDeps: (deps) => ({ ...deps, tools: flaky(deps.tools) }) });
});
afterAll(async () => {
  await host?.close();
});

describe('a tool server that fails during a call', () => {
  it('retries the read-only call, does not repeat the write, and tells the model', async () => {
    const { runId } = await host.run({ agent: 'crash', input: {} });
    const trace = await host.deps.store.listTrace(runId);
    const first = trace.filter((e) => e.kind === 'tool_call').slice(0, 2);
    expect(first.map((e) => [e.name, e.status, e.attempt])).toEqual([
      ['everything.echo', 'error', 1],
      ['everything.get-sum', 'ok', 2],
    ]);
    expect(first[0]!.detail).toContain('it may or may not have acted');
    expect(calls.slice(0, 3).sort()).toEqual(['echo', 'get-sum', 'get-sum']);
    const state = await host.deps.store.loadState(runId);
    expect(state!.messages[2]!.content).toMatchObject([
      { isError: true, content: expect.stringContaining('may or may not have acted') },
      { isError: false, content: expect.stringContaining('3') },
    ]);
  });
});
