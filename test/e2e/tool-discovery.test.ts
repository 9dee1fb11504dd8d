import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { ToolTimeoutError } from '../../core/errors.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import { testHost } from '../support/local-host.ts';

/**
 * A server too slow to list its tools (a busy host starting many servers at once): listing
 * has no side effect, so StartRun is retried instead of failing the run.
 */

let lists = 0;
let timeouts = 0;

function slowToList(tools: ToolGateway): ToolGateway {
  return {
    async listTools(server) {
      lists += 1;
      if (timeouts < 2) {
        timeouts += 1;
        throw new ToolTimeoutError(`MCP tool "${server.name}/tools/list" did not answer within 2 s`);
      }
      return tools.listTools(server);
    },
    callTool: (server, tool, args, options) => tools.callTool(server, tool, args, options),
    close: () => tools.close(),
  };
}

let host: LocalHost;
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org', { wrapDeps: (deps) => ({ ...deps, tools: slowToList(deps.tools) }) });
});
afterAll(async () => {
  await host?.close();
});

describe('a tool server too slow to list its tools', () => {
  it('retries StartRun until it answers, and the run completes as usual', async () => {
    const result = await host.run({ agent: 'crowd', input: {} });
    expect(result.meta.stopReason).toBe('completed');
    expect(timeouts).toBe(2);
    expect(result.outcome!.statesEntered.filter((state) => state === 'StartRun')).toHaveLength(1);
    // Two refused listings, then the one that counted.
    expect(lists).toBeGreaterThanOrEqual(3);
  });
});
