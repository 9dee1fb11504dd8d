import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { openai, type FakeModelServer } from '../support/fake-model-servers.ts';
import { testHost } from '../support/local-host.ts';

/**
 * A run against a real provider's wire format (a local server speaking OpenAI's Chat
 * Completions on 127.0.0.1), with its key read by name from the local secrets: the key
 * reaches the provider and nothing else — not the table, the trace, a log line or an error.
 */

const KEY = ['sk', 'proj', 'looprailTESTkey'.padEnd(48, '0')].join('-');
const logLines: string[] = [];
let server: FakeModelServer;
let org: string;
let host: LocalHost;

beforeAll(async () => {
  server = await openai.start();
  org = await mkdtemp(join(tmpdir(), 'looprail-provider-org-'));
  await cp('test/fixtures/loop-org/mcp-servers/everything.yaml', join(org, 'mcp-servers/everything.yaml'), {
    recursive: true,
  });
  await writeFile(
    join(org, 'secrets.yaml'),
    'secrets:\n  openai-key: { description: the local test key }\n  missing-key: {}\n',
  );
  await writeFile(
    join(org, 'models.yaml'),
    `models:\n  gpt-local:\n    provider: openai\n    model_id: gpt-4.1\n    base_url: ${server.url}/v1\n    secret: openai-key\n    price: { input_per_mtok: 2, output_per_mtok: 8, cached_input_per_mtok: 0.5 }\n` +
      `  gpt-nokey:\n    provider: openai\n    model_id: gpt-4.1\n    base_url: ${server.url}/v1\n    secret: missing-key\n    price: { input_per_mtok: 2, output_per_mtok: 8 }\n`,
  );
  await writeFile(join(org, 'instructions.md'), 'Say hello through the echo tool.\n');
  const agent = (name: string, model: string) =>
    writeFile(
      join(org, `${name}.yaml`),
      `agent:\n  name: ${name}\n  owner: tests@example.com\n  model: ${model}\n  instructions: ./instructions.md@v1\n  mcp_servers: [everything]\n`,
    );
  await agent('greeter', 'gpt-local');
  await agent('keyless', 'gpt-nokey');
  process.env.LOOPRAIL_SECRET_OPENAI_KEY = KEY;
  host = await testHost(org, { log: jsonLogger('info', (line) => logLines.push(line)) });
});

afterAll(async () => {
  await host?.close();
  await server?.close();
  await rm(org, { recursive: true, force: true });
  delete process.env.LOOPRAIL_SECRET_OPENAI_KEY;
});

describe('a run on a real provider wire format', () => {
  it('calls the model with the key from the secret, runs its tool call, and prices its usage', async () => {
    server.reply(
      openai.completion({
        toolCalls: [{ id: 'call_abc123', name: 'everything__echo', arguments: '{"message":"hello"}' }],
        usage: { prompt_tokens: 1200, completion_tokens: 20, cached_tokens: 1000 },
      }),
      openai.completion({
        text: 'Said hello.',
        usage: { prompt_tokens: 1300, completion_tokens: 5, cached_tokens: 1000 },
      }),
    );
    const { meta, runId } = await host.run({ agent: 'greeter', input: {} });
    expect(meta.stopReason).toBe('completed');
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([`Bearer ${KEY}`, `Bearer ${KEY}`]);
    const second = server.requests[1]!.body as {
      messages: Array<{ role: string; tool_call_id?: string; content: string }>;
    };
    expect(second.messages.find((m) => m.role === 'tool')).toMatchObject({
      tool_call_id: 'call_abc123',
      content: expect.stringContaining('hello'),
    });
    const trace = await host.deps.store.listTrace(runId);
    const calls = trace.filter((e) => e.kind === 'model_call');
    expect(calls.map((e) => [e.provider, e.model, e.inputTokens, e.cachedInputTokens, e.costMicros])).toEqual([
      ['openai', 'gpt-4.1', 1200, 1000, 200 * 2 + 1000 * 0.5 + 20 * 8],
      ['openai', 'gpt-4.1', 1300, 1000, 300 * 2 + 1000 * 0.5 + 5 * 8],
    ]);
    expect(trace.find((e) => e.kind === 'tool_call')).toMatchObject({
      name: 'everything.echo',
      status: 'ok',
      callId: 'call_abc123',
    });
  });

  it('ends error with a clear reason when the key is refused, even when the provider echoes it back', async () => {
    server.reset();
    server.reply(
      openai.error(
        401,
        `Incorrect API key provided: ${KEY}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        'invalid_request_error',
        'invalid_api_key',
      ),
    );
    const { meta } = await host.run({ agent: 'greeter', input: {} });
    expect(meta).toMatchObject({ status: 'failed', stopReason: 'error' });
    expect(meta.stopDetail).toContain('openai-key');
    expect(meta.stopDetail).not.toContain(KEY);
  });

  it('ends error naming the secret when it does not exist', async () => {
    const { meta } = await host.run({ agent: 'keyless', input: {} });
    expect(meta).toMatchObject({ status: 'failed', stopReason: 'error' });
    expect(meta.stopDetail).toContain('missing-key');
  });

  it('never stores, traces or logs the key', async () => {
    const items = await host.dynamodb.send(new ScanCommand({ TableName: host.tableName }));
    expect(items.Items!.length).toBeGreaterThan(10);
    expect(JSON.stringify(items.Items)).not.toContain(KEY);
    expect(JSON.stringify(items.Items)).not.toContain(KEY.slice(8, 30));
    expect(logLines.length).toBeGreaterThan(5);
    expect(logLines.join('\n')).not.toContain(KEY.slice(8, 30));
  });
});
