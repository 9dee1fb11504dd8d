import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AnthropicProvider } from '../../adapters/models/anthropic.ts';
import { BedrockProvider } from '../../adapters/models/bedrock.ts';
import type { HttpCallSettings } from '../../adapters/models/http-call.ts';
import { modelProviders } from '../../adapters/models/index.ts';
import { OpenAiProvider } from '../../adapters/models/openai.ts';
import { ScriptedModelProvider } from '../../adapters/models/scripted.ts';
import { LocalSecretStore, secretEnvName } from '../../adapters/secrets/local-secrets.ts';
import type { ModelEntry } from '../../core/definitions/catalog.ts';
import type { ToolSpec } from '../../core/definitions/context.ts';
import type { Message } from '../../core/definitions/messages.ts';
import { PROVIDER_NAMES, type ModelDeclaration } from '../../core/definitions/org.ts';
import {
  ConfigurationError,
  ContextTooLongError,
  ModelUnavailableError,
  SecretNotFoundError,
} from '../../core/errors.ts';
import type { Clock } from '../../core/ports/clock.ts';
import type { ModelRequest } from '../../core/ports/models.ts';
import { anthropic, bedrock, hang, malformedJson, openai } from '../support/fake-model-servers.ts';
import type { FakeModelServer } from '../support/fake-model-servers.ts';

/**
 * Each real provider adapter against a local server speaking that provider's wire
 * format: what it sends, how it reads answers, and how every failure surfaces (retried,
 * typed, and never carrying the API key).
 */

/** Built at run time: no file holds a string shaped like a real key. */
const ANTHROPIC_KEY = ['sk', 'ant', 'api03-TESTKEY-5f2c9e1d7b3a4e8f'].join('-');
const OPENAI_KEY = ['sk', 'proj', 'TESTKEY', '8d4e2a6c1f9b0a7e'].join('-');
const secrets = new LocalSecretStore({
  env: { [secretEnvName('anthropic/api-key')]: ANTHROPIC_KEY, [secretEnvName('openai/api-key')]: OPENAI_KEY },
});

const PRICE = { input_per_mtok: 3, output_per_mtok: 15 };
const SYSTEM = 'You triage CI failures for acme/shop.';

const TOOLS: ToolSpec[] = [
  {
    name: 'files__read_file',
    server: 'files',
    tool: 'read_file',
    description: 'Read a file from the CI reports folder.',
    inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
    readOnly: true,
    destructive: false,
    requiresApproval: false,
  },
  {
    name: 'memory__add_note',
    server: 'memory',
    tool: 'add_note',
    description: 'Record a note in the team memory.',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    readOnly: false,
    destructive: false,
    requiresApproval: false,
  },
];

/** A turn with text and two tool calls, their results (one failed), then a user nudge. */
const CONVERSATION: Message[] = [
  { role: 'user', content: [{ type: 'text', text: 'Triage last night’s CI.' }] },
  {
    role: 'assistant',
    content: [
      { type: 'text', text: 'Reading the report first.' },
      { type: 'tool_call', id: 'toolu_01A', name: 'files__read_file', arguments: { path: 'ci/nightly.log' } },
      { type: 'tool_call', id: 'toolu_01B', name: 'memory__add_note', arguments: { text: 'started' } },
    ],
  },
  {
    role: 'tool',
    content: [
      {
        type: 'tool_result',
        callId: 'toolu_01A',
        name: 'files__read_file',
        content: '3 failures in checkout',
        isError: false,
      },
      {
        type: 'tool_result',
        callId: 'toolu_01B',
        name: 'memory__add_note',
        content: 'memory server unreachable',
        isError: true,
      },
    ],
  },
  { role: 'user', content: [{ type: 'text', text: 'Name an owner for each failure.' }] },
];

function entry(name: string, declaration: ModelDeclaration): ModelEntry {
  return { name, declaration };
}

function requestFor(model: ModelEntry, overrides: Partial<ModelRequest> = {}): ModelRequest {
  return {
    runId: 'run-1',
    role: 'maker',
    callIndex: 2,
    model,
    system: SYSTEM,
    messages: CONVERSATION,
    tools: TOOLS,
    maxOutputTokens: 1024,
    ...overrides,
  };
}

/** Waits asked for, instead of waiting. */
const sleeps: number[] = [];
const NOW = Date.parse('2026-03-01T09:00:00Z');
const fixedClock: Clock = { now: () => new Date(NOW) };
function http(overrides: HttpCallSettings = {}): HttpCallSettings {
  return { sleep: async (ms) => void sleeps.push(ms), clock: fixedClock, random: () => 0.5, ...overrides };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

/** The key must not be anywhere a thrown error could be printed, logged or stored. */
function expectNoKey(error: Error, key: string): void {
  for (const text of [
    error.message,
    String(error),
    error.stack ?? '',
    JSON.stringify(error),
    JSON.stringify(Object.entries(error)),
  ]) {
    expect(text).not.toContain(key);
  }
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

beforeEach(() => {
  sleeps.length = 0;
});

describe('AnthropicProvider', () => {
  let server: FakeModelServer;
  let model: ModelEntry;
  let provider: AnthropicProvider;

  beforeAll(async () => {
    server = await anthropic.start();
    model = entry('claude', {
      provider: 'anthropic',
      model_id: 'claude-sonnet-4-5',
      secret: 'anthropic/api-key',
      base_url: server.url,
      price: PRICE,
    });
    provider = new AnthropicProvider({ secrets, ...http() });
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('maps a text answer, counting cache reads and writes into input tokens', async () => {
    server.reply(
      anthropic.message({
        text: 'Two failures are flaky.',
        usage: { input_tokens: 120, output_tokens: 9, cache_read_input_tokens: 2000, cache_creation_input_tokens: 300 },
      }),
    );
    const response = await provider.complete(requestFor(model));
    expect(response).toEqual({
      content: [{ type: 'text', text: 'Two failures are flaky.' }],
      stopReason: 'end_turn',
      inputTokens: 2420,
      outputTokens: 9,
      cachedInputTokens: 2000,
      cacheWriteInputTokens: 300,
      provider: 'anthropic',
      modelId: 'claude-sonnet-4-5',
    });
  });

  it('maps a tool-call answer with its ids and arguments', async () => {
    server.reply(
      anthropic.message({
        text: 'Recording it.',
        toolCalls: [
          { id: 'toolu_02X', name: 'memory__add_note', input: { text: 'checkout: owner @kim' } },
          { id: 'toolu_02Y', name: 'files__read_file', input: { path: 'ci/other.log' } },
        ],
        usage: { input_tokens: 50, output_tokens: 40 },
      }),
    );
    const response = await provider.complete(requestFor(model));
    expect(response.content).toEqual([
      { type: 'text', text: 'Recording it.' },
      { type: 'tool_call', id: 'toolu_02X', name: 'memory__add_note', arguments: { text: 'checkout: owner @kim' } },
      { type: 'tool_call', id: 'toolu_02Y', name: 'files__read_file', arguments: { path: 'ci/other.log' } },
    ]);
    expect(response.stopReason).toBe('tool_use');
    expect([response.inputTokens, response.outputTokens, response.cachedInputTokens]).toEqual([50, 40, 0]);
  });

  it('sends the documented request: key header, system and last tool marked for caching, tool results in a user message', async () => {
    server.reply(anthropic.message({ text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } }));
    await provider.complete(requestFor(model));
    const [sent] = server.requests;
    expect(sent!.method).toBe('POST');
    expect(sent!.path).toBe('/v1/messages');
    expect(sent!.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(sent!.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent!.headers['content-type']).toBe('application/json');
    expect(sent!.headers.authorization).toBeUndefined();
    expect(sent!.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Triage last night’s CI.' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Reading the report first.' },
            { type: 'tool_use', id: 'toolu_01A', name: 'files__read_file', input: { path: 'ci/nightly.log' } },
            { type: 'tool_use', id: 'toolu_01B', name: 'memory__add_note', input: { text: 'started' } },
          ],
        },
        {
          // The tool message and the user nudge after it: one user message, results first.
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01A', content: '3 failures in checkout', is_error: false },
            { type: 'tool_result', tool_use_id: 'toolu_01B', content: 'memory server unreachable', is_error: true },
            // The rolling breakpoint: the next turn reads the conversation up to here from the cache.
            { type: 'text', text: 'Name an owner for each failure.', cache_control: { type: 'ephemeral' } },
          ],
        },
      ],
      tools: [
        {
          name: 'files__read_file',
          description: 'Read a file from the CI reports folder.',
          input_schema: TOOLS[0]!.inputSchema,
        },
        {
          name: 'memory__add_note',
          description: 'Record a note in the team memory.',
          input_schema: TOOLS[1]!.inputSchema,
          cache_control: { type: 'ephemeral' },
        },
      ],
    });
  });

  it('leaves out an empty system prompt and an empty tool list, and maps max_tokens and other stop reasons', async () => {
    server.reply(
      anthropic.message({ text: 'cut', stopReason: 'max_tokens', usage: { input_tokens: 5, output_tokens: 1024 } }),
      anthropic.message({ text: 'done', stopReason: 'stop_sequence', usage: { input_tokens: 5, output_tokens: 3 } }),
    );
    const first = await provider.complete(requestFor(model, { system: '', tools: [], messages: [CONVERSATION[0]!] }));
    expect(first.stopReason).toBe('max_tokens');
    expect(server.requests[0]!.body).not.toHaveProperty('system');
    expect(server.requests[0]!.body).not.toHaveProperty('tools');
    expect((await provider.complete(requestFor(model))).stopReason).toBe('end_turn');
  });

  it('waits as long as retry-after asks (seconds) on a 429, then succeeds', async () => {
    server.reply(
      anthropic.error(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', {
        'retry-after': '7',
      }),
      anthropic.message({ text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } }),
    );
    const response = await provider.complete(requestFor(model));
    expect(response.content).toEqual([{ type: 'text', text: 'ok' }]);
    expect(sleeps).toEqual([7000]);
    expect(server.requests).toHaveLength(2);
  });

  it('reads retry-after as an HTTP date too', async () => {
    const inThreeSeconds = new Date(NOW + 3000).toUTCString();
    server.reply(
      anthropic.error(429, 'rate_limit_error', 'slow down', { 'retry-after': inThreeSeconds }),
      anthropic.message({ text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } }),
    );
    await provider.complete(requestFor(model));
    expect(sleeps).toEqual([3000]);
  });

  it('gives up at once when retry-after is past the retry budget', async () => {
    server.reply(anthropic.error(429, 'rate_limit_error', 'slow down', { 'retry-after': '600' }));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('600 s');
    expect(error.message).toContain('retry budget');
    expect(sleeps).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('throws ModelUnavailableError after 3 attempts of 5xx, backing off with jitter in between', async () => {
    server.reply(
      anthropic.error(529, 'overloaded_error', 'Overloaded'),
      anthropic.error(500, 'api_error', 'Internal server error'),
      anthropic.error(503, 'api_error', 'Service unavailable'),
    );
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.name).toBe('looprail.ModelUnavailable');
    expect(error.message).toBe(
      'anthropic model claude (claude-sonnet-4-5) is unavailable: HTTP 503: api_error: Service unavailable (3 attempts)',
    );
    expect(server.requests).toHaveLength(3);
    // Full jitter with random() = 0.5: half of 1 s, then half of 2 s.
    expect(sleeps).toEqual([500, 1000]);
  });

  it('retries malformed JSON once, then throws ModelUnavailableError', async () => {
    server.reply(malformedJson(), malformedJson());
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('answered with malformed JSON');
    expect(server.requests).toHaveLength(2);

    server.reset();
    server.reply(malformedJson(), anthropic.message({ text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } }));
    expect((await provider.complete(requestFor(model))).content).toEqual([{ type: 'text', text: 'ok' }]);
  });

  it('treats JSON in the wrong shape as malformed', async () => {
    server.reply(
      { kind: 'json', body: { content: 'not a list', usage: {} } },
      {
        kind: 'json',
        body: {
          content: [{ type: 'tool_use', id: 'x' }],
          stop_reason: 'tool_use',
          usage: { input_tokens: 1, output_tokens: 1 },
        },
      },
    );
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('malformed JSON');
    expect(error.message).toContain('content.0');
  });

  it('times out a server that never answers', async () => {
    const impatient = new AnthropicProvider({ secrets, ...http({ timeoutMs: 200, maxAttempts: 1 }) });
    server.reply(hang());
    const error = await failure(impatient.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toBe(
      'anthropic model claude (claude-sonnet-4-5) is unavailable: no answer within 0.2 s (1 attempt)',
    );
  });

  it('retries after a timeout when attempts remain', async () => {
    const impatient = new AnthropicProvider({ secrets, ...http({ timeoutMs: 200 }) });
    server.reply(hang(), anthropic.message({ text: 'back', usage: { input_tokens: 1, output_tokens: 1 } }));
    expect((await impatient.complete(requestFor(model))).content).toEqual([{ type: 'text', text: 'back' }]);
    expect(server.requests).toHaveLength(2);
  });

  it('throws ConfigurationError with the provider’s message on a 400, without retrying', async () => {
    server.reply(
      anthropic.error(400, 'invalid_request_error', 'max_tokens: 100000 > 64000, which is the maximum allowed'),
    );
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      'anthropic model claude (claude-sonnet-4-5): the request was refused (HTTP 400: invalid_request_error: max_tokens: 100000 > 64000, which is the maximum allowed)',
    );
    expect(server.requests).toHaveLength(1);
  });

  it('throws ContextTooLongError when the prompt is over the window, without retrying', async () => {
    server.reply(anthropic.error(400, 'invalid_request_error', 'prompt is too long: 212345 tokens > 200000 maximum'));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ContextTooLongError);
    expect(error.name).toBe('looprail.ContextTooLong');
    expect(error.message).toBe(
      "anthropic model claude (claude-sonnet-4-5): the prompt is longer than the model's context window " +
        '(HTTP 400: invalid_request_error: prompt is too long: 212345 tokens > 200000 maximum)',
    );
    expect(server.requests).toHaveLength(1);
  });

  it('throws ConfigurationError on a 404 (an unknown model id)', async () => {
    server.reply(anthropic.error(404, 'not_found_error', 'model: claude-sonnet-9'));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('model: claude-sonnet-9');
  });

  it('names the secret, never the key, when the key is refused, even if the provider echoes it', async () => {
    server.reply(anthropic.error(401, 'authentication_error', `invalid x-api-key: ${ANTHROPIC_KEY}`));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      'anthropic model claude (claude-sonnet-4-5): the key in secret "anthropic/api-key" was refused (HTTP 401: authentication_error: invalid x-api-key: [redacted])',
    );
    expectNoKey(error, ANTHROPIC_KEY);
  });

  it('redacts the key from an answer that repeats it', async () => {
    server.reply(
      anthropic.message({
        text: `my key is ${ANTHROPIC_KEY}`,
        toolCalls: [{ id: 'toolu_9', name: 'memory__add_note', input: { text: ANTHROPIC_KEY } }],
        usage: { input_tokens: 1, output_tokens: 1 },
      }),
    );
    const response = await provider.complete(requestFor(model));
    expect(JSON.stringify(response)).not.toContain(ANTHROPIC_KEY);
    expect(response.content[0]).toEqual({ type: 'text', text: 'my key is [redacted]' });
  });

  it('throws SecretNotFoundError naming a missing secret, before any request', async () => {
    const missing = entry('claude-x', {
      provider: 'anthropic',
      secret: 'anthropic/other-key',
      base_url: server.url,
      price: PRICE,
    });
    const error = await failure(provider.complete(requestFor(missing)));
    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect(error.message).toContain('anthropic/other-key');
    expect(server.requests).toHaveLength(0);
  });

  it('retries a connection that is refused, then throws ModelUnavailableError', async () => {
    const down = entry('claude', {
      provider: 'anthropic',
      model_id: 'claude-sonnet-4-5',
      secret: 'anthropic/api-key',
      base_url: await closedPortUrl(),
      price: PRICE,
    });
    const error = await failure(provider.complete(requestFor(down)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toMatch(
      /could not reach http:\/\/127\.0\.0\.1:\d+\/v1\/messages: ECONNREFUSED \(3 attempts\)/,
    );
    expect(sleeps).toHaveLength(2);
  });
});

describe('OpenAiProvider', () => {
  let server: FakeModelServer;
  let model: ModelEntry;
  let keyless: ModelEntry;
  let provider: OpenAiProvider;

  beforeAll(async () => {
    server = await openai.start();
    model = entry('gpt', {
      provider: 'openai',
      model_id: 'gpt-4.1',
      secret: 'openai/api-key',
      base_url: `${server.url}/v1`,
      price: PRICE,
    });
    keyless = entry('local-llama', { provider: 'openai', base_url: `${server.url}/v1/`, price: PRICE });
    provider = new OpenAiProvider({ secrets, ...http() });
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('maps a text answer; prompt_tokens already include the cached ones', async () => {
    server.reply(
      openai.completion({
        text: 'Two failures are flaky.',
        usage: { prompt_tokens: 2300, completion_tokens: 9, cached_tokens: 2048 },
      }),
    );
    const response = await provider.complete(requestFor(model));
    expect(response).toEqual({
      content: [{ type: 'text', text: 'Two failures are flaky.' }],
      stopReason: 'end_turn',
      inputTokens: 2300,
      outputTokens: 9,
      cachedInputTokens: 2048,
      provider: 'openai',
      modelId: 'gpt-4.1',
    });
  });

  it('maps tool calls: JSON-string arguments parsed, empty ones as {}, broken ones kept raw for the tool step to refuse', async () => {
    server.reply(
      openai.completion({
        toolCalls: [
          { id: 'call_abc', name: 'memory__add_note', arguments: '{"text":"checkout: owner @kim"}' },
          { id: 'call_def', name: 'files__read_file', arguments: '{"path": "ci/' },
          { id: 'call_ghi', name: 'files__read_file', arguments: '' },
          { id: 'call_jkl', name: 'files__read_file', arguments: `{"path":${'['.repeat(40)}${']'.repeat(40)}}` },
        ],
        usage: { prompt_tokens: 100, completion_tokens: 30 },
      }),
    );
    const response = await provider.complete(requestFor(model));
    expect(response.content).toEqual([
      { type: 'tool_call', id: 'call_abc', name: 'memory__add_note', arguments: { text: 'checkout: owner @kim' } },
      { type: 'tool_call', id: 'call_def', name: 'files__read_file', arguments: { __invalid_json: '{"path": "ci/' } },
      { type: 'tool_call', id: 'call_ghi', name: 'files__read_file', arguments: {} },
      // Nested too deep to parse safely: kept as why, for the tool step to refuse.
      {
        type: 'tool_call',
        id: 'call_jkl',
        name: 'files__read_file',
        arguments: {
          __refused_arguments: `arguments, at arguments.path${'[0]'.repeat(31)} nests deeper than 32 levels (maxDepth 32)`,
        },
      },
    ]);
    expect(response.stopReason).toBe('tool_use');
    expect([response.inputTokens, response.outputTokens, response.cachedInputTokens]).toEqual([100, 30, 0]);
  });

  it('maps finish_reason length to max_tokens', async () => {
    server.reply(
      openai.completion({ text: 'cut', finishReason: 'length', usage: { prompt_tokens: 5, completion_tokens: 1024 } }),
    );
    expect((await provider.complete(requestFor(model))).stopReason).toBe('max_tokens');
  });

  it('sends the documented request: bearer key, system first, tool_calls with JSON-string arguments, one tool message per result', async () => {
    server.reply(openai.completion({ text: 'ok', usage: { prompt_tokens: 1, completion_tokens: 1 } }));
    await provider.complete(requestFor(model));
    const [sent] = server.requests;
    expect(sent!.path).toBe('/v1/chat/completions');
    expect(sent!.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(sent!.headers['content-type']).toBe('application/json');
    expect(sent!.body).toEqual({
      model: 'gpt-4.1',
      max_completion_tokens: 1024,
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'Triage last night’s CI.' },
        {
          role: 'assistant',
          content: 'Reading the report first.',
          tool_calls: [
            {
              id: 'toolu_01A',
              type: 'function',
              function: { name: 'files__read_file', arguments: '{"path":"ci/nightly.log"}' },
            },
            {
              id: 'toolu_01B',
              type: 'function',
              function: { name: 'memory__add_note', arguments: '{"text":"started"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_01A', content: '3 failures in checkout' },
        { role: 'tool', tool_call_id: 'toolu_01B', content: 'Error: memory server unreachable' },
        { role: 'user', content: 'Name an owner for each failure.' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'files__read_file',
            description: 'Read a file from the CI reports folder.',
            parameters: TOOLS[0]!.inputSchema,
          },
        },
        {
          type: 'function',
          function: {
            name: 'memory__add_note',
            description: 'Record a note in the team memory.',
            parameters: TOOLS[1]!.inputSchema,
          },
        },
      ],
    });
  });

  it('sends no Authorization header to a keyless compatible server, and says so when it refuses', async () => {
    server.reply(openai.completion({ text: 'local', usage: { prompt_tokens: 3, completion_tokens: 1 } }));
    const response = await provider.complete(requestFor(keyless, { tools: [] }));
    expect(response.modelId).toBe('local-llama');
    expect(server.requests[0]!.path).toBe('/v1/chat/completions');
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
    expect(server.requests[0]!.body).not.toHaveProperty('tools');

    server.reply(openai.error(401, 'You must provide an API key', 'invalid_request_error'));
    const error = await failure(provider.complete(requestFor(keyless)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('declares no secret');
  });

  it('waits as long as retry-after-ms asks on a 429, then succeeds', async () => {
    server.reply(
      openai.error(429, 'Rate limit reached for gpt-4.1', 'requests', 'rate_limit_exceeded', {
        'retry-after-ms': '1500',
        'retry-after': '2',
      }),
      openai.completion({ text: 'ok', usage: { prompt_tokens: 1, completion_tokens: 1 } }),
    );
    await provider.complete(requestFor(model));
    expect(sleeps).toEqual([1500]);
    expect(server.requests).toHaveLength(2);
  });

  it('throws ModelUnavailableError after 3 attempts of 5xx', async () => {
    server.reply(
      openai.error(500, 'The server had an error', 'server_error'),
      openai.error(502, 'Bad gateway', 'server_error'),
      openai.error(503, 'The engine is currently overloaded', 'server_error'),
    );
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toBe(
      'openai model gpt (gpt-4.1) is unavailable: HTTP 503: server_error: The engine is currently overloaded (3 attempts)',
    );
    expect(server.requests).toHaveLength(3);
  });

  it('throws ModelUnavailableError on malformed JSON', async () => {
    server.reply(malformedJson(), malformedJson());
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('answered with malformed JSON');
  });

  it('treats an answer without usage as malformed (its tokens would escape every budget)', async () => {
    const body = { choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] };
    server.reply({ kind: 'json', body }, { kind: 'json', body });
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('usage');
  });

  it('times out a server that never answers', async () => {
    const impatient = new OpenAiProvider({ secrets, ...http({ timeoutMs: 150, maxAttempts: 2 }) });
    server.reply(hang(), hang());
    const error = await failure(impatient.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('no answer within 0.15 s (2 attempts)');
  });

  it('throws ConfigurationError with the provider’s message on a 400', async () => {
    server.reply(
      openai.error(
        400,
        "Unsupported parameter: 'max_tokens' is not supported with this model.",
        'invalid_request_error',
        'unsupported_parameter',
      ),
    );
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain("Unsupported parameter: 'max_tokens' is not supported with this model.");
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    ['OpenAI’s code', "This model's maximum context length is 128000 tokens.", 'context_length_exceeded'],
    ['a compatible server’s wording (vLLM, no code)', "This model's maximum context length is 8192 tokens.", null],
  ])('throws ContextTooLongError when the prompt is over the window: %s', async (_, message, code) => {
    server.reply(openai.error(400, message, 'invalid_request_error', code));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ContextTooLongError);
    expect(error.message).toContain("the prompt is longer than the model's context window");
    expect(error.message).toContain(message);
    expect(server.requests).toHaveLength(1);
  });

  it('names the secret, never the key, when the key is refused, even if the provider echoes it', async () => {
    server.reply(
      openai.error(
        401,
        `Incorrect API key provided: ${OPENAI_KEY}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        'invalid_request_error',
        'invalid_api_key',
      ),
    );
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('the key in secret "openai/api-key" was refused');
    expect(error.message).toContain('Incorrect API key provided: [redacted].');
    expectNoKey(error, OPENAI_KEY);
  });

  it('never quotes the key when the refusal writes it with JSON escapes (\\u00XX in either case, \\/)', async () => {
    // Every other character escaped: the raw body never holds the key, its decoded message does.
    const escaped = (char: string, upper: boolean) => {
      const hex = char.charCodeAt(0).toString(16).padStart(4, '0');
      return `\\u${upper ? hex.toUpperCase() : hex}`;
    };
    const quoted = [...OPENAI_KEY].map((char, i) => (i % 2 === 1 ? char : escaped(char, i % 4 === 0))).join('');
    expect(quoted).not.toContain(OPENAI_KEY.slice(0, 4));
    server.reply({
      kind: 'raw',
      status: 401,
      body: `{"error":{"message":"Incorrect API key provided: ${quoted}. See https:\\/\\/platform.openai.com\\/account\\/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}`,
    });
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain(
      'Incorrect API key provided: [redacted]. See https://platform.openai.com/account/api-keys.',
    );
    expectNoKey(error, OPENAI_KEY);
  });

  it('throws SecretNotFoundError naming a missing secret', async () => {
    const missing = entry('gpt-x', {
      provider: 'openai',
      secret: 'openai/missing',
      base_url: `${server.url}/v1`,
      price: PRICE,
    });
    const error = await failure(provider.complete(requestFor(missing)));
    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect(error.message).toContain('openai/missing');
    expect(server.requests).toHaveLength(0);
  });
});

describe('BedrockProvider', () => {
  let server: FakeModelServer;
  let client: BedrockRuntimeClient;
  const regions: Array<string | undefined> = [];
  let model: ModelEntry;
  let provider: BedrockProvider;

  beforeAll(async () => {
    server = await bedrock.start();
    client = new BedrockRuntimeClient({
      region: 'eu-west-1',
      endpoint: server.url,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' },
      // One attempt: the provider's own mapping is under test, not the SDK's retries.
      maxAttempts: 1,
    });
    model = entry('claude-bedrock', {
      provider: 'bedrock',
      model_id: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
      region: 'eu-west-1',
      price: PRICE,
    });
    provider = new BedrockProvider({
      clientFor: (region) => {
        regions.push(region);
        return client;
      },
    });
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
  });
  beforeEach(() => {
    server.reset();
    regions.length = 0;
  });

  it('maps a text answer; Converse’s inputTokens exclude cache reads and writes, ours include them', async () => {
    server.reply(
      bedrock.converse({
        text: 'Two failures are flaky.',
        usage: { inputTokens: 30, outputTokens: 9, cacheReadInputTokens: 1800, cacheWriteInputTokens: 200 },
      }),
    );
    const response = await provider.complete(requestFor(model));
    expect(response).toEqual({
      content: [{ type: 'text', text: 'Two failures are flaky.' }],
      stopReason: 'end_turn',
      inputTokens: 2030,
      outputTokens: 9,
      cachedInputTokens: 1800,
      cacheWriteInputTokens: 200,
      provider: 'bedrock',
      modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
    });
    expect(regions).toEqual(['eu-west-1']);
  });

  it('maps a tool-call answer with its ids and arguments', async () => {
    server.reply(
      bedrock.converse({
        text: 'Recording it.',
        toolCalls: [
          {
            toolUseId: 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q',
            name: 'memory__add_note',
            input: { text: 'checkout: owner @kim' },
          },
        ],
        usage: { inputTokens: 50, outputTokens: 40 },
      }),
    );
    const response = await provider.complete(requestFor(model));
    expect(response.content).toEqual([
      { type: 'text', text: 'Recording it.' },
      {
        type: 'tool_call',
        id: 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q',
        name: 'memory__add_note',
        arguments: { text: 'checkout: owner @kim' },
      },
    ]);
    expect(response.stopReason).toBe('tool_use');
    expect([response.inputTokens, response.outputTokens, response.cachedInputTokens]).toEqual([50, 40, 0]);
  });

  it('sends the documented Converse request, signed with IAM credentials', async () => {
    server.reply(bedrock.converse({ text: 'ok', usage: { inputTokens: 1, outputTokens: 1 } }));
    await provider.complete(requestFor(model));
    const [sent] = server.requests;
    expect(bedrock.modelIdOf(sent!)).toBe('anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(sent!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/bedrock\//);
    expect(sent!.body).toEqual({
      system: [{ text: SYSTEM }, { cachePoint: { type: 'default' } }],
      messages: [
        { role: 'user', content: [{ text: 'Triage last night’s CI.' }] },
        {
          role: 'assistant',
          content: [
            { text: 'Reading the report first.' },
            { toolUse: { toolUseId: 'toolu_01A', name: 'files__read_file', input: { path: 'ci/nightly.log' } } },
            { toolUse: { toolUseId: 'toolu_01B', name: 'memory__add_note', input: { text: 'started' } } },
          ],
        },
        {
          role: 'user',
          content: [
            {
              toolResult: { toolUseId: 'toolu_01A', content: [{ text: '3 failures in checkout' }], status: 'success' },
            },
            {
              toolResult: { toolUseId: 'toolu_01B', content: [{ text: 'memory server unreachable' }], status: 'error' },
            },
            { text: 'Name an owner for each failure.' },
            { cachePoint: { type: 'default' } },
          ],
        },
      ],
      toolConfig: {
        tools: [
          {
            toolSpec: {
              name: 'files__read_file',
              description: 'Read a file from the CI reports folder.',
              inputSchema: { json: TOOLS[0]!.inputSchema },
            },
          },
          {
            toolSpec: {
              name: 'memory__add_note',
              description: 'Record a note in the team memory.',
              inputSchema: { json: TOOLS[1]!.inputSchema },
            },
          },
        ],
      },
      inferenceConfig: { maxTokens: 1024 },
    });
  });

  it('asks again without the cache point when the model refuses prompt caching, and remembers', async () => {
    const other = entry('llama', { provider: 'bedrock', model_id: 'meta.llama3-70b-instruct-v1:0', price: PRICE });
    server.reply(
      bedrock.error(
        400,
        'ValidationException',
        'Malformed input request: #/system/1: extraneous key [cachePoint] is not permitted, please reformat your input and try again.',
      ),
      bedrock.converse({ text: 'ok', usage: { inputTokens: 10, outputTokens: 1 } }),
      bedrock.converse({ text: 'again', usage: { inputTokens: 10, outputTokens: 1 } }),
    );
    expect((await provider.complete(requestFor(other))).content).toEqual([{ type: 'text', text: 'ok' }]);
    await provider.complete(requestFor(other));
    expect(server.requests.map((r) => r.body.system)).toEqual([
      [{ text: SYSTEM }, { cachePoint: { type: 'default' } }],
      [{ text: SYSTEM }],
      [{ text: SYSTEM }],
    ]);
    expect(regions).toEqual([undefined, undefined]);
  });

  it.each([
    [429, 'ThrottlingException', 'Too many requests, please wait before trying again.'],
    [503, 'ServiceUnavailableException', 'Bedrock is unable to process your request.'],
    [500, 'InternalServerException', 'An internal server error occurred.'],
    [429, 'ModelNotReadyException', 'The model is not ready to serve inference requests.'],
    [408, 'ModelTimeoutException', 'The request took too long to process.'],
  ])('throws ModelUnavailableError on %i %s', async (status, type, message) => {
    server.reply(bedrock.error(status, type, message));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toBe(
      `bedrock model claude-bedrock (anthropic.claude-sonnet-4-5-20250929-v1:0) in eu-west-1 is unavailable (${type}: ${message})`,
    );
  });

  it('throws ContextTooLongError on a ValidationException refusing the input as too long', async () => {
    server.reply(bedrock.error(400, 'ValidationException', 'Input is too long for requested model.'));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ContextTooLongError);
    expect(error.message).toBe(
      'bedrock model claude-bedrock (anthropic.claude-sonnet-4-5-20250929-v1:0) in eu-west-1: ' +
        "the prompt is longer than the model's context window " +
        '(ValidationException: Input is too long for requested model.)',
    );
  });

  it('keeps other ValidationExceptions a ConfigurationError', async () => {
    server.reply(bedrock.error(400, 'ValidationException', 'The provided model identifier is invalid.'));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).not.toBeInstanceOf(ContextTooLongError);
  });

  it('lets the SDK retry a 5xx storm (its standard 3 attempts), then throws ModelUnavailableError', async () => {
    const retrying = new BedrockRuntimeClient({
      region: 'eu-west-1',
      endpoint: server.url,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' },
    });
    try {
      server.reply(
        ...[1, 2, 3].map(() =>
          bedrock.error(503, 'ServiceUnavailableException', 'Bedrock is unable to process your request.'),
        ),
      );
      const error = await failure(new BedrockProvider({ clientFor: () => retrying }).complete(requestFor(model)));
      expect(error).toBeInstanceOf(ModelUnavailableError);
      expect(server.requests).toHaveLength(3);
    } finally {
      retrying.destroy();
    }
  });

  it.each([
    [
      403,
      'AccessDeniedException',
      'You don’t have access to the model with the specified model ID.',
      'check that access to this model is enabled',
    ],
    [400, 'ValidationException', 'The provided model identifier is invalid.', 'refused as invalid'],
    [
      404,
      'ResourceNotFoundException',
      'Could not resolve the foundation model from the provided model identifier.',
      'check model_id and region',
    ],
  ])('throws ConfigurationError on %i %s, with a hint', async (status, type, message, hint) => {
    server.reply(bedrock.error(status, type, message));
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain(hint);
    expect(error.message).toContain(`${type}: ${message}`);
  });

  it('throws ModelUnavailableError on malformed JSON', async () => {
    server.reply(malformedJson());
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('malformed JSON');
  });

  it('throws ModelUnavailableError on an answer without a message or usage', async () => {
    server.reply({
      kind: 'json',
      body: { stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } },
    });
    const error = await failure(provider.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('no output.message');
  });

  it('times out a server that never answers', async () => {
    const impatient = new BedrockProvider({ clientFor: () => client, timeoutMs: 200 });
    server.reply(hang());
    const error = await failure(impatient.complete(requestFor(model)));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error.message).toContain('no answer within 0.2 s');
  });
});

describe('modelProviders', () => {
  it('offers every provider a model may declare, by its name', () => {
    const providers = modelProviders({ secrets });
    expect(Object.keys(providers).sort()).toEqual(['anthropic', 'bedrock', 'openai', 'scripted']);
    expect(providers['anthropic']).toBeInstanceOf(AnthropicProvider);
    expect(providers['openai']).toBeInstanceOf(OpenAiProvider);
    expect(providers['bedrock']).toBeInstanceOf(BedrockProvider);
    expect(providers['scripted']).toBeInstanceOf(ScriptedModelProvider);
    for (const [name, provider] of Object.entries(providers)) expect(provider.name).toBe(name);
    expect(Object.keys(providers).sort()).toEqual([...PROVIDER_NAMES].sort());
  });
});

describe('ScriptedModelProvider', () => {
  it('refuses a prompt as too long when its turn says so, as the real providers do', async () => {
    const script = { turns: [{ error: 'context_too_long' as const, tool_calls: [] }], after_last: 'error' as const };
    const declaration: ModelDeclaration = { provider: 'scripted', script: 'fake.yaml', price: PRICE };
    const model: ModelEntry = { name: 'fake', declaration, script };
    const error = await failure(new ScriptedModelProvider().complete(requestFor(model, { callIndex: 0 })));
    expect(error).toBeInstanceOf(ContextTooLongError);
    expect(error.message).toBe('scripted model fake refused the prompt as too long (scripted at call 1)');
  });
});
