import type {
  BedrockRuntimeClient,
  ContentBlock,
  ConverseCommandInput,
  ConverseCommandOutput,
  Message as ConverseMessage,
  SystemContentBlock,
  Tool,
  ToolUseBlock,
} from '@aws-sdk/client-bedrock-runtime';
import type { Message, TextBlock, ToolCallBlock } from '../../core/definitions/messages.ts';
import { ConfigurationError, ContextTooLongError, ModelUnavailableError } from '../../core/errors.ts';
import type { ModelProvider, ModelRequest, ModelResponse } from '../../core/ports/models.ts';
import { DEFAULT_TIMEOUT_MS } from './http-call.ts';

/**
 * Amazon Bedrock through the Converse API. Authentication is the caller's IAM identity
 * (the step's Lambda role); no key is ever read or sent. The SDK client retries
 * throttling and 5xx itself (standard mode, 3 attempts); what still fails is mapped to
 * our typed errors so the state machine retries it or stops with a clear reason.
 */

/** A Bedrock client for a region, made when the first call needs it (the SDK package is imported then). */
export type BedrockClientFor = (region: string | undefined) => BedrockRuntimeClient | Promise<BedrockRuntimeClient>;

export interface BedrockProviderOptions {
  /** A client for a region (undefined: the ambient region, AWS_REGION in Lambda). Default: one SDK client per region, made on first use. */
  clientFor?: BedrockClientFor;
  /** How long one Converse call may take. Default 120 s. */
  timeoutMs?: number;
}

/** Errors the same request may get past a little later. */
const TRANSIENT = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'InternalServerException',
  'ModelNotReadyException',
  'ModelTimeoutException',
  'ModelErrorException',
  // "You can resubmit your request later": a per-minute token quota, not a hard limit.
  'ServiceQuotaExceededException',
  'TimeoutError',
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** Errors that need a person: permissions, a wrong model id or region, a request the model refuses. */
const HINTS: Record<string, string> = {
  AccessDeniedException:
    'check that access to this model is enabled in the region and that the role may call bedrock:InvokeModel on it',
  ResourceNotFoundException: 'check model_id and region in models.yaml',
  ValidationException: 'the request was refused as invalid',
  UnrecognizedClientException: 'the AWS credentials were not recognised',
  ExpiredTokenException: 'the AWS credentials have expired',
  CredentialsProviderError: 'no AWS credentials were found for the Bedrock client',
};

/** The SDK's JSON document type: what tool inputs and schemas are sent as. */
type JsonDocument = NonNullable<ToolUseBlock['input']>;

const EMPTY_RESULT = '(no output)';

export class BedrockProvider implements ModelProvider {
  readonly name = 'bedrock';
  readonly #clientFor: BedrockClientFor;
  readonly #timeoutMs: number;
  /** Models that refused a cache point (not every Bedrock model supports prompt caching); asked without one from then on. */
  readonly #noCachePoint = new Set<string>();

  constructor(options: BedrockProviderOptions = {}) {
    this.#clientFor = options.clientFor ?? clientsPerRegion();
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    const declaration = request.model.declaration;
    if (declaration.provider !== 'bedrock')
      throw new ConfigurationError(`model ${request.model.name} is declared for ${declaration.provider}, not bedrock`);
    const modelId = declaration.model_id ?? request.model.name;
    const region = declaration.region;
    const label = `bedrock model ${request.model.name}${modelId !== request.model.name ? ` (${modelId})` : ''}${region ? ` in ${region}` : ''}`;
    const client = await this.#clientFor(region);
    const { ConverseCommand } = await import('@aws-sdk/client-bedrock-runtime');
    const cacheKey = `${region ?? ''}|${modelId}`;

    let cachePoint = !this.#noCachePoint.has(cacheKey);
    let output: ConverseCommandOutput;
    for (;;) {
      try {
        output = await client.send(new ConverseCommand(converseInput(request, modelId, cachePoint)), {
          abortSignal: AbortSignal.timeout(this.#timeoutMs),
        });
        break;
      } catch (error) {
        if (cachePoint && refusedCachePoint(error)) {
          this.#noCachePoint.add(cacheKey);
          cachePoint = false;
          continue;
        }
        throw translateError(error, label, this.#timeoutMs);
      }
    }
    return fromConverseOutput(output, label, modelId);
  }
}

/** The ConverseCommand input. Exported for tests of the mapping alone. */
export function converseInput(request: ModelRequest, modelId: string, cachePoint = true): ConverseCommandInput {
  const input: ConverseCommandInput = {
    modelId,
    messages: toConverseMessages(request.messages),
    inferenceConfig: { maxTokens: request.maxOutputTokens },
  };
  // A rolling cache point after the conversation so far: the loop's next turn reads it from the cache.
  if (cachePoint) input.messages!.at(-1)?.content?.push({ cachePoint: { type: 'default' } });
  if (request.system.trim() !== '') {
    // The cache point after the system prompt marks the stable prefix (tools and system) for prompt caching.
    const system: SystemContentBlock[] = [{ text: request.system }];
    if (cachePoint) system.push({ cachePoint: { type: 'default' } });
    input.system = system;
  }
  if (request.tools.length > 0) {
    input.toolConfig = {
      tools: request.tools.map(
        (tool): Tool => ({
          toolSpec: {
            name: tool.name,
            // Converse refuses an empty description; a tool without one is sent without.
            ...(tool.description.trim() !== '' && { description: tool.description }),
            inputSchema: { json: tool.inputSchema as JsonDocument },
          },
        }),
      ),
    };
  }
  return input;
}

/**
 * Our messages → Converse messages: tool results go in a `user` message, roles must
 * alternate (consecutive ones are merged, tool results first), and blank text is
 * dropped because Converse refuses blank text blocks.
 */
export function toConverseMessages(messages: Message[]): ConverseMessage[] {
  const wire: Array<{ role: 'user' | 'assistant'; content: ContentBlock[] }> = [];
  for (const message of messages) {
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const content: ContentBlock[] = [];
    for (const block of message.content) {
      if (block.type === 'text') {
        if (block.text.trim() !== '') content.push({ text: block.text });
      } else if (block.type === 'tool_call') {
        content.push({ toolUse: { toolUseId: block.id, name: block.name, input: block.arguments as JsonDocument } });
      } else {
        content.push({
          toolResult: {
            toolUseId: block.callId,
            content: [{ text: block.content.trim() === '' ? EMPTY_RESULT : block.content }],
            status: block.isError ? 'error' : 'success',
          },
        });
      }
    }
    if (content.length === 0) continue;
    const last = wire[wire.length - 1];
    if (last && last.role === role) last.content.push(...content);
    else wire.push({ role, content });
  }
  for (const message of wire) {
    if (message.role === 'user')
      message.content.sort((a, b) => Number(b.toolResult !== undefined) - Number(a.toolResult !== undefined));
  }
  return wire;
}

function fromConverseOutput(output: ConverseCommandOutput, label: string, modelId: string): ModelResponse {
  const message = output.output?.message;
  const usage = output.usage;
  // The SDK has parsed the JSON; an answer without these is one we cannot account for.
  if (!message?.content || !usage || usage.inputTokens === undefined || usage.outputTokens === undefined) {
    throw new ModelUnavailableError(
      `${label} is unavailable: answered with malformed JSON (no ${!message?.content ? 'output.message' : 'usage'})`,
    );
  }
  const content: Array<TextBlock | ToolCallBlock> = [];
  for (const block of message.content) {
    if (block.text !== undefined) {
      content.push({ type: 'text', text: block.text });
    } else if (block.toolUse) {
      const { toolUseId, name, input } = block.toolUse;
      // Converse documents input as a JSON object (the SDK has already parsed it), so anything else is a broken answer.
      if (!toolUseId || !name || input === null || typeof input !== 'object' || Array.isArray(input)) {
        throw new ModelUnavailableError(
          `${label} is unavailable: answered with malformed JSON (a toolUse block without toolUseId, name or an object input)`,
        );
      }
      content.push({ type: 'tool_call', id: toolUseId, name, arguments: input as Record<string, unknown> });
    }
    // Reasoning, citations and other block kinds are not part of our conversation.
  }
  const cacheRead = usage.cacheReadInputTokens ?? 0;
  const cacheWrite = usage.cacheWriteInputTokens ?? 0;
  const stop = output.stopReason;
  return {
    content,
    stopReason: stop === 'tool_use' || stop === 'max_tokens' ? stop : 'end_turn',
    // Converse's inputTokens excludes tokens read from or written to the cache (AWS:
    // total input = inputTokens + cacheReadInputTokens + cacheWriteInputTokens); ours is the total.
    inputTokens: usage.inputTokens + cacheRead + cacheWrite,
    outputTokens: usage.outputTokens,
    cachedInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    provider: 'bedrock',
    modelId,
  };
}

/**
 * Bedrock refuses a cache point on models without prompt caching, as a
 * ValidationException ("extraneous key [cachePoint]") or, for some, an
 * AccessDeniedException ("your request did not allow prompt caching").
 */
function refusedCachePoint(error: unknown): boolean {
  const { name, message } = errorFacts(error);
  return (
    (name === 'ValidationException' || name === 'AccessDeniedException') && /cachePoint|prompt caching/i.test(message)
  );
}

/**
 * Converse's refusal of a prompt over the window: a ValidationException in each model
 * family's wording (Claude's `Input is too long for requested model.`, Llama's and
 * Mistral's maximum context length).
 */
export function bedrockContextTooLong(name: string, message: string): boolean {
  const tooLong = /input is too long|prompt is too long|too many input tokens|maximum context length|context window/i;
  return name === 'ValidationException' && tooLong.test(message);
}

function translateError(error: unknown, label: string, timeoutMs: number): Error {
  const { name, message, status } = errorFacts(error);
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new ModelUnavailableError(`${label} is unavailable: no answer within ${timeoutMs / 1000} s`);
  }
  // A failure on a 2xx is the SDK failing to read the answer (broken JSON): an outage, not a refusal.
  if (status !== undefined && status >= 200 && status < 300) {
    return new ModelUnavailableError(
      `${label} is unavailable: answered with malformed JSON (${message.split('\n')[0]})`,
    );
  }
  const detail = `${name}${message ? `: ${message}` : ''}`;
  if (TRANSIENT.has(name)) return new ModelUnavailableError(`${label} is unavailable (${detail})`);
  if (bedrockContextTooLong(name, message)) {
    return new ContextTooLongError(`${label}: the prompt is longer than the model's context window (${detail})`);
  }
  const hint = HINTS[name];
  if (hint) return new ConfigurationError(`${label}: ${hint} (${detail})`);
  // No HTTP status means no answer at all (refused, reset, DNS): worth another try.
  if (status === undefined || status >= 500 || status === 429)
    return new ModelUnavailableError(`${label} is unavailable (${detail})`);
  return new ConfigurationError(`${label}: the request was refused (HTTP ${status}, ${detail})`);
}

function errorFacts(error: unknown): { name: string; message: string; status: number | undefined } {
  const e = error as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: number };
  } | null;
  const name =
    typeof e?.name === 'string' && e.name !== 'Error' ? e.name : typeof e?.code === 'string' ? e.code : 'Error';
  return {
    name,
    message: typeof e?.message === 'string' ? e.message : String(error),
    status: e?.$metadata?.httpStatusCode,
  };
}

function clientsPerRegion(): BedrockClientFor {
  const clients = new Map<string, BedrockRuntimeClient>();
  return async (region) => {
    const key = region ?? '';
    let client = clients.get(key);
    if (!client) {
      const { BedrockRuntimeClient } = await import('@aws-sdk/client-bedrock-runtime');
      client = clients.get(key) ?? new BedrockRuntimeClient(region ? { region } : {});
      clients.set(key, client);
    }
    return client;
  };
}
