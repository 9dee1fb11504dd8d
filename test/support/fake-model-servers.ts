import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';

/**
 * Local stand-ins for the paid model APIs, on 127.0.0.1 and a random port. Each speaks
 * its provider's documented wire format (Anthropic Messages, OpenAI Chat Completions,
 * Bedrock Converse's REST JSON), answers from a queue of scripted replies, and records
 * every request it got so tests can check what was actually sent.
 */

export type FakeReply =
  /** A JSON answer (status 200 unless told). */
  | { kind: 'json'; status?: number; body: unknown; headers?: Record<string, string> }
  /** Bytes exactly as given: for malformed JSON. */
  | { kind: 'raw'; status?: number; body: string; headers?: Record<string, string> }
  /** Never answer: for timeouts. The connection is dropped when the server closes. */
  | { kind: 'hang' };

export interface RecordedRequest {
  method: string;
  /** The path as received (still URL-encoded). */
  path: string;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON (undefined when it was not JSON). */
  body: any;
  raw: string;
}

export interface FakeModelServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Queues replies, answered in order, one per request. */
  reply(...replies: FakeReply[]): void;
  /** Forgets queued replies and recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

interface Route {
  /**
   * fetch speaks HTTP/1.1; the AWS SDK's Bedrock Runtime client speaks HTTP/2 only
   * (cleartext h2c against an http:// endpoint), so its stand-in must too.
   */
  protocol: 'http1' | 'h2c';
  /** Whether this is the provider's endpoint. */
  matches(method: string, path: string): boolean;
  /** The provider's own error shape, for a wrong path or an empty queue. */
  error(status: number, message: string): FakeReply;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

async function startFakeServer(route: Route): Promise<FakeModelServer> {
  const requests: RecordedRequest[] = [];
  const queue: FakeReply[] = [];
  const handle = async (req: AnyRequest, res: AnyResponse) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    requests.push({ method, path, headers: req.headers, body, raw });
    if (!route.matches(method, path)) return send(res, route.error(404, `fake server: no endpoint ${method} ${path}`));
    send(res, queue.shift() ?? route.error(500, 'fake server: no scripted reply left'));
  };

  // Hung requests hold their connections open; closing must cut them or it waits forever.
  let cutConnections: () => void;
  const server =
    route.protocol === 'h2c'
      ? (() => {
          const h2 = createHttp2Server(handle);
          const sessions = new Set<Http2Session>();
          h2.on('session', (session) => {
            sessions.add(session);
            session.on('close', () => sessions.delete(session));
          });
          cutConnections = () => {
            for (const session of sessions) session.destroy();
          };
          return h2;
        })()
      : (() => {
          const h1 = createServer(handle);
          cutConnections = () => h1.closeAllConnections();
          return h1;
        })();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reply: (...replies) => void queue.push(...replies),
    reset: () => {
      queue.length = 0;
      requests.length = 0;
    },
    close: async () => {
      cutConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: AnyResponse, reply: FakeReply): void {
  if (reply.kind === 'hang') return;
  const text = reply.kind === 'json' ? JSON.stringify(reply.body) : reply.body;
  const status = reply.status ?? 200;
  const headers = { 'content-type': 'application/json', ...reply.headers };
  // The two response classes share these methods but not one callable type.
  if ('stream' in res) res.writeHead(status, headers).end(text);
  else res.writeHead(status, headers).end(text);
}

export const hang = (): FakeReply => ({ kind: 'hang' });

/** A 200 whose body is not JSON at all, as a misbehaving proxy might send. */
export const malformedJson = (): FakeReply => ({
  kind: 'raw',
  status: 200,
  body: '{"id": "msg_01", "content": [ {"type": "te',
});

// --- Anthropic Messages: POST /v1/messages ------------------------------------------

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

export const anthropic = {
  start: () =>
    startFakeServer({
      protocol: 'http1',
      matches: (method, path) => method === 'POST' && path === '/v1/messages',
      error: (status, message) => anthropic.error(status, status === 404 ? 'not_found_error' : 'api_error', message),
    }),

  message(answer: {
    text?: string;
    toolCalls?: Array<{ id: string; name: string; input: Record<string, unknown> }>;
    stopReason?: string;
    usage: AnthropicUsage;
    model?: string;
  }): FakeReply {
    const content: unknown[] = [];
    if (answer.text !== undefined) content.push({ type: 'text', text: answer.text });
    for (const call of answer.toolCalls ?? [])
      content.push({ type: 'tool_use', id: call.id, name: call.name, input: call.input });
    return {
      kind: 'json',
      body: {
        id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
        type: 'message',
        role: 'assistant',
        model: answer.model ?? 'claude-sonnet-4-5',
        content,
        stop_reason: answer.stopReason ?? (answer.toolCalls?.length ? 'tool_use' : 'end_turn'),
        stop_sequence: null,
        usage: { cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...answer.usage },
      },
    };
  },

  error(status: number, type: string, message: string, headers?: Record<string, string>): FakeReply {
    return {
      kind: 'json',
      status,
      headers: { 'request-id': 'req_011CTest', ...headers },
      body: { type: 'error', error: { type, message }, request_id: 'req_011CTest' },
    };
  },
};

// --- OpenAI Chat Completions: POST /v1/chat/completions -----------------------------

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens?: number;
}

export const openai = {
  start: () =>
    startFakeServer({
      protocol: 'http1',
      matches: (method, path) => method === 'POST' && path === '/v1/chat/completions',
      error: (status, message) =>
        openai.error(status, message, status === 404 ? 'invalid_request_error' : 'server_error'),
    }),

  completion(answer: {
    text?: string | null;
    toolCalls?: Array<{ id: string; name: string; arguments: string }>;
    finishReason?: string;
    usage: OpenAiUsage;
  }): FakeReply {
    const toolCalls = answer.toolCalls?.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.arguments },
    }));
    return {
      kind: 'json',
      body: {
        id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
        object: 'chat.completion',
        created: 1_741_570_283,
        model: 'gpt-4.1-2025-04-14',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: answer.text ?? null,
              refusal: null,
              annotations: [],
              ...(toolCalls && { tool_calls: toolCalls }),
            },
            logprobs: null,
            finish_reason: answer.finishReason ?? (toolCalls?.length ? 'tool_calls' : 'stop'),
          },
        ],
        usage: {
          prompt_tokens: answer.usage.prompt_tokens,
          completion_tokens: answer.usage.completion_tokens,
          total_tokens: answer.usage.prompt_tokens + answer.usage.completion_tokens,
          prompt_tokens_details: { cached_tokens: answer.usage.cached_tokens ?? 0, audio_tokens: 0 },
          completion_tokens_details: {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
          },
        },
        service_tier: 'default',
        system_fingerprint: 'fp_fc9f1d7035',
      },
    };
  },

  error(
    status: number,
    message: string,
    type: string,
    code: string | null = null,
    headers?: Record<string, string>,
  ): FakeReply {
    return {
      kind: 'json',
      status,
      headers: { 'x-request-id': 'req_test', ...headers },
      body: { error: { message, type, param: null, code } },
    };
  },
};

// --- Bedrock Converse (REST JSON): POST /model/{modelId}/converse -------------------

export interface BedrockUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}

const CONVERSE_PATH = /^\/model\/([^/]+)\/converse$/;

export const bedrock = {
  start: () =>
    startFakeServer({
      protocol: 'h2c',
      matches: (method, path) => method === 'POST' && CONVERSE_PATH.test(path),
      error: (status, message) =>
        bedrock.error(status, status === 404 ? 'ResourceNotFoundException' : 'InternalServerException', message),
    }),

  /** The model id a recorded request was for (the SDK URL-encodes it into the path). */
  modelIdOf(request: RecordedRequest): string | undefined {
    const match = CONVERSE_PATH.exec(request.path);
    return match ? decodeURIComponent(match[1]!) : undefined;
  },

  converse(answer: {
    text?: string;
    toolCalls?: Array<{ toolUseId: string; name: string; input: Record<string, unknown> }>;
    stopReason?: string;
    usage: BedrockUsage;
  }): FakeReply {
    const content: unknown[] = [];
    if (answer.text !== undefined) content.push({ text: answer.text });
    for (const call of answer.toolCalls ?? []) content.push({ toolUse: call });
    const { inputTokens, outputTokens, cacheReadInputTokens = 0, cacheWriteInputTokens = 0 } = answer.usage;
    return {
      kind: 'json',
      headers: { 'x-amzn-requestid': 'fake-request-id' },
      body: {
        output: { message: { role: 'assistant', content } },
        stopReason: answer.stopReason ?? (answer.toolCalls?.length ? 'tool_use' : 'end_turn'),
        usage: {
          inputTokens,
          outputTokens,
          totalTokens: inputTokens + outputTokens + cacheReadInputTokens + cacheWriteInputTokens,
          ...(answer.usage.cacheReadInputTokens !== undefined && { cacheReadInputTokens }),
          ...(answer.usage.cacheWriteInputTokens !== undefined && { cacheWriteInputTokens }),
        },
        metrics: { latencyMs: 412 },
      },
    };
  },

  /** AWS REST JSON errors: the type in `x-amzn-errortype`, the message in the body. */
  error(status: number, type: string, message: string): FakeReply {
    return {
      kind: 'json',
      status,
      headers: {
        'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
        'x-amzn-requestid': 'fake-request-id',
      },
      body: { message },
    };
  },
};
