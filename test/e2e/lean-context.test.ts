import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { runIdFor } from '../../core/run/ids.ts';
import { anthropic, type FakeModelServer } from '../support/fake-model-servers.ts';
import { testHost } from '../support/local-host.ts';

/**
 * What the model's context holds, seen from a provider's side of the wire (a local server
 * speaking Anthropic's Messages API): deferred tool loading under the grants, and large
 * results offloaded to the run's store and read back with read_result.
 */

const KEY = ['sk-ant-', 'looprail', 'TESTkey', '0'.repeat(24)].join('');
let server: FakeModelServer;
let org: string;
let host: LocalHost;

interface WireRequest {
  tools?: Array<{ name: string; description: string; cache_control?: unknown }>;
  messages: Array<{
    role: string;
    content: Array<{ type: string; tool_use_id?: string; content?: unknown; is_error?: boolean }> | string;
  }>;
}

function toolResult(request: WireRequest, id: string): { content: string; isError: boolean } {
  for (const message of request.messages) {
    if (typeof message.content === 'string') continue;
    const block = message.content.find((b) => b.type === 'tool_result' && b.tool_use_id === id);
    if (block)
      return {
        content: typeof block.content === 'string' ? block.content : JSON.stringify(block.content),
        isError: block.is_error === true,
      };
  }
  throw new Error(`no tool result for ${id}`);
}

beforeAll(async () => {
  server = await anthropic.start();
  org = await mkdtemp(join(tmpdir(), 'looprail-lean-org-'));
  await mkdir(join(org, 'mcp-servers'));
  await writeFile(join(org, 'secrets.yaml'), 'secrets:\n  anthropic-key: {}\n');
  await writeFile(
    join(org, 'models.yaml'),
    `models:\n  claude-local:\n    provider: anthropic\n    model_id: claude-sonnet-4-5\n    base_url: ${server.url}\n    secret: anthropic-key\n    price: { input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3, cache_write_per_mtok: 3.75 }\n`,
  );
  await writeFile(
    join(org, 'mcp-servers/everything.yaml'),
    'name: everything\ndescription: The reference everything server\ntransport: { type: stdio, command: mcp-server-everything, args: [stdio] }\ntools:\n  echo: {}\n  get-sum: { read_only: true }\n',
  );
  await writeFile(
    join(org, 'mcp-servers/notes.yaml'),
    'name: notes\ndescription: The team memory\ntransport: { type: stdio, command: mcp-server-memory, env: { MEMORY_FILE_PATH: "${LOOPRAIL_STATE_DIR}/notes.jsonl" } }\ntools:\n  read_graph: { read_only: true }\n  create_entities: {}\n',
  );
  await writeFile(join(org, 'instructions.md'), 'Work through the task with your tools.\n');
  await writeFile(
    join(org, 'lean.yaml'),
    'agent:\n  name: lean\n  owner: tests@example.com\n  model: claude-local\n  instructions: ./instructions.md@v1\n' +
      '  mcp_servers: [everything, { name: notes, allow: [read_graph] }]\n' +
      '  harness: { context: { offload_result_tokens: 500, offload_turn_tokens: 800, preview_chars: 100 } }\n',
  );
  await writeFile(
    join(org, 'eager.yaml'),
    'agent:\n  name: eager\n  owner: tests@example.com\n  model: claude-local\n  instructions: ./instructions.md@v1\n  mcp_servers: [{ name: everything, defer_loading: false }]\n',
  );
  process.env.LOOPRAIL_SECRET_ANTHROPIC_KEY = KEY;
  host = await testHost(org);
});

afterAll(async () => {
  await host?.close();
  await server?.close();
  await rm(org, { recursive: true, force: true });
  delete process.env.LOOPRAIL_SECRET_ANTHROPIC_KEY;
});

const usage = { input_tokens: 100, output_tokens: 10 };
const call = (id: string, name: string, input: Record<string, unknown>) => ({ id, name, input });

describe('deferred tool loading and offloaded results', () => {
  it('shows servers first, loads granted tools on demand, offloads big results and reads them back', async () => {
    const runId = runIdFor('lean', 'k1');
    const big = Array.from({ length: 100 }, (_, i) =>
      i === 42 ? 'the needle is here' : `line ${i} ${'x'.repeat(30)}`,
    ).join('\n');
    const medium = (n: number) => `${n}`.repeat(1_800);
    server.reset();
    server.reply(
      anthropic.message({ toolCalls: [call('toolu_1', 'everything__echo', { message: 'hi' })], usage }),
      anthropic.message({
        toolCalls: [
          call('toolu_2a', 'looprail__load_tools', { server: 'notes', tools: ['create_entities'] }),
          call('toolu_2b', 'looprail__load_tools', { server: 'everything', tools: ['echo'] }),
        ],
        usage,
      }),
      anthropic.message({ toolCalls: [call('toolu_big', 'everything__echo', { message: big })], usage }),
      anthropic.message({
        toolCalls: [
          call('toolu_4a', 'looprail__read_result', { handle: `${runId}/toolu_big`, grep: 'NEEDLE' }),
          call('toolu_4b', 'looprail__read_result', { handle: 'r-someone-else/toolu_big', offset: 0 }),
          call('toolu_4c', 'looprail__read_result', { handle: `${runId}/toolu_big`, offset: 10, grep: 'x' }),
        ],
        usage,
      }),
      anthropic.message({
        toolCalls: [1, 2, 3].map((n) => call(`toolu_5${n}`, 'everything__echo', { message: medium(n) })),
        usage,
      }),
      anthropic.message({ text: 'Done.', usage }),
    );
    const { meta } = await host.run({ agent: 'lean', input: {}, dedupeKey: 'k1' });
    expect(meta.runId).toBe(runId);
    expect(meta.stopReason).toBe('completed');
    const requests = server.requests.map((request) => request.body as WireRequest);
    expect(requests).toHaveLength(6);
    const names = (request: WireRequest) => (request.tools ?? []).map((tool) => tool.name);

    // First the servers, not their schemas; only granted tools are named.
    expect(names(requests[0]!)).toEqual(['looprail__load_tools']);
    const loader = requests[0]!.tools![0]!.description;
    expect(loader).toContain('- everything: The reference everything server (tools: echo, get-sum)');
    expect(loader).toContain('- notes: The team memory (tools: read_graph)');
    expect(loader).not.toContain('create_entities');

    // A tool called before it is loaded: a clear error telling the model what to do.
    expect(toolResult(requests[1]!, 'toolu_1')).toEqual({
      content:
        'everything__echo is not loaded yet, so the call was not made: call looprail__load_tools with {"server":"everything","tools":["echo"]} first, then call it again',
      isError: true,
    });
    // Grants still decide what can be loaded; a granted tool loads and stays, at the end of the list.
    expect(toolResult(requests[2]!, 'toolu_2a')).toMatchObject({
      isError: true,
      content: expect.stringContaining('"create_entities" is not notes tools this agent may use (granted: read_graph)'),
    });
    expect(toolResult(requests[2]!, 'toolu_2b')).toEqual({
      content: 'loaded everything__echo: call it from your next turn',
      isError: false,
    });
    expect(names(requests[2]!)).toEqual(['looprail__load_tools', 'everything__echo']);
    expect(requests[2]!.tools!.at(-1)!.cache_control).toEqual({ type: 'ephemeral' });

    // The big result: a preview, its size and a handle in context; read_result offered from then on, the prefix unchanged.
    const offloaded = toolResult(requests[3]!, 'toolu_big');
    expect(offloaded.content.length).toBeLessThan(600);
    expect(offloaded.content).toContain(`handle: ${runId}/toolu_big`);
    expect(offloaded.content).toMatch(/\[result stored, not shown in full: \d+ characters, ~\d+ tokens, 100 lines\./);
    expect(names(requests[3]!)).toEqual(['looprail__load_tools', 'everything__echo', 'looprail__read_result']);

    // read_result greps it; a handle from another run is refused; two modes at once are invalid.
    expect(toolResult(requests[4]!, 'toolu_4a')).toEqual({ content: '43: the needle is here', isError: false });
    expect(toolResult(requests[4]!, 'toolu_4b')).toEqual({
      content:
        'refused: handle r-someone-else/toolu_big belongs to another run; a run reads only its own stored results',
      isError: true,
    });
    expect(toolResult(requests[4]!, 'toolu_4c')).toMatchObject({
      isError: true,
      content: expect.stringContaining('use one mode per call'),
    });

    // Three parallel results each under the per-call threshold, together over the turn's: the largest are offloaded until the rest fit.
    const turn = [1, 2, 3].map((n) => toolResult(requests[5]!, `toolu_5${n}`).content);
    const stored = turn.filter((content) => content.includes('[result stored'));
    expect(stored.length).toBeGreaterThan(0);
    expect(turn.reduce((sum, content) => sum + Math.ceil(content.length / 4), 0)).toBeLessThanOrEqual(800);

    // The run remembers what it loaded and stored; the trace keeps the handle and the full result is in the store.
    const run = await host.deps.store.getRun(runId);
    expect(run!.loadedTools).toEqual(['everything__echo']);
    expect(run!.offloadedResults).toContain(`${runId}/toolu_big`);
    const trace = await host.deps.store.listTrace(runId);
    const bigCall = trace.find((event) => event.callId === 'toolu_big')!;
    expect(bigCall).toMatchObject({
      kind: 'tool_call',
      name: 'everything.echo',
      status: 'ok',
      resultHandle: `${runId}/toolu_big`,
    });
    expect(bigCall.detail).toMatch(/^result offloaded: \d+ characters \(~\d+ tokens\) stored as /);
    const full = await host.deps.results!.getResult(runId, 'toolu_big');
    expect(full.state === 'found' && full.result.text).toBe(`Echo: ${big}`);
    expect(trace.filter((event) => event.name === 'looprail.load_tools').map((event) => event.status)).toEqual([
      'denied',
      'ok',
    ]);
    expect(trace.find((event) => event.callId === 'toolu_1')).toMatchObject({ kind: 'tool_call', status: 'error' });
  });

  it('shows every schema from the start when the grant turns deferral off; marks the prefix for caching and prices cached tokens apart', async () => {
    server.reset();
    server.reply(
      anthropic.message({
        text: 'Nothing to do.',
        usage: {
          input_tokens: 100,
          output_tokens: 10,
          cache_read_input_tokens: 2000,
          cache_creation_input_tokens: 400,
        },
      }),
    );
    const { meta, runId } = await host.run({ agent: 'eager', input: {} });
    expect(meta.stopReason).toBe('completed');
    const body = server.requests[0]!.body as WireRequest & { system: Array<{ cache_control?: unknown }> };
    expect((body.tools ?? []).map((tool) => tool.name)).toEqual(['everything__echo', 'everything__get-sum']);
    // Breakpoints: the tool list, the system prompt, and the end of the conversation so far.
    const ephemeral = { type: 'ephemeral' };
    expect([
      body.tools!.at(-1)!.cache_control,
      body.system.at(-1)!.cache_control,
      (body.messages.at(-1)!.content as Array<{ cache_control?: unknown }>).at(-1)!.cache_control,
    ]).toEqual([ephemeral, ephemeral, ephemeral]);
    // 100 plain × $3/M + 2000 cached × $0.30/M + 400 written × $3.75/M + 10 out × $15/M = 300 + 600 + 1500 + 150 micro-USD.
    const call = (await host.deps.store.listTrace(runId)).find((event) => event.kind === 'model_call')!;
    expect(call).toMatchObject({ inputTokens: 2500, cachedInputTokens: 2000, outputTokens: 10, costMicros: 2550 });
    expect(call.detail).toContain('400 input tokens written to the cache');
  });
});
