import * as z from '../../core/definitions/zod.ts';
import type { Message, TextBlock, ToolCallBlock } from '../../core/definitions/messages.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { ModelProvider, ModelRequest, ModelResponse } from '../../core/ports/models.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import { HttpCaller, readApiKey } from './http-call.ts';
import type { HttpCallSettings, ProviderRefusal } from './http-call.ts';

/**
 * Anthropic's Messages API (`POST /v1/messages`). The key is read from the model's
 * secret for each call and sent only in `x-api-key`.
 */

export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2023-06-01';

/** Anthropic's refusal of a prompt over the window: a 400 `prompt is too long: 212345 tokens > 200000 maximum`. */
export function anthropicContextTooLong(refusal: ProviderRefusal): boolean {
  return refusal.status === 400 && /prompt is too long/i.test(refusal.message ?? '');
}

export interface AnthropicProviderOptions extends HttpCallSettings {
  secrets: SecretStore;
}

// --- the wire format, as much of it as we send and read ---------------------------

interface WireText {
  type: 'text';
  text: string;
  cache_control?: { type: 'ephemeral' };
}
interface WireToolUse {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
  cache_control?: { type: 'ephemeral' };
}
interface WireToolResult {
  type: 'tool_result';
  tool_use_id: string;
  content: string;
  is_error: boolean;
  cache_control?: { type: 'ephemeral' };
}
type WireBlock = WireText | WireToolUse | WireToolResult;
interface WireMessage {
  role: 'user' | 'assistant';
  content: WireBlock[];
}
interface WireTool {
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
  cache_control?: { type: 'ephemeral' };
}

const Count = z.number().check(z.int(), z.minimum(0));
/** Blocks we do not use (thinking, server tools) are accepted and skipped; the two we use must be whole. */
const ResponseBlock = z.union([
  z.looseObject({ type: z.literal('text'), text: z.string() }),
  z.looseObject({
    type: z.literal('tool_use'),
    id: z.string().check(z.minLength(1)),
    name: z.string().check(z.minLength(1)),
    input: z.record(z.string(), z.unknown()),
  }),
  z.looseObject({
    type: z
      .string()
      .check(z.refine((type) => type !== 'text' && type !== 'tool_use', 'expected a whole text or tool_use block')),
  }),
]);
const AnthropicResponse = z.looseObject({
  content: z.array(ResponseBlock),
  stop_reason: z.nullable(z.string()),
  usage: z.looseObject({
    input_tokens: Count,
    output_tokens: Count,
    cache_read_input_tokens: z.nullish(Count),
    cache_creation_input_tokens: z.nullish(Count),
  }),
});
type AnthropicResponse = z.infer<typeof AnthropicResponse>;

const EPHEMERAL = { type: 'ephemeral' } as const;

export class AnthropicProvider implements ModelProvider {
  readonly name = 'anthropic';
  readonly #secrets: SecretStore;
  readonly #http: HttpCaller;

  constructor(options: AnthropicProviderOptions) {
    this.#secrets = options.secrets;
    this.#http = new HttpCaller(options);
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    const declaration = request.model.declaration;
    if (declaration.provider !== 'anthropic')
      throw new ConfigurationError(
        `model ${request.model.name} is declared for ${declaration.provider}, not anthropic`,
      );
    const modelId = declaration.model_id ?? request.model.name;
    const key = await readApiKey(this.#secrets, declaration.secret);
    const baseUrl = (declaration.base_url ?? ANTHROPIC_DEFAULT_BASE_URL).replace(/\/+$/, '');

    const answer = await this.#http.postJson({
      provider: this.name,
      model: request.model.name,
      modelId,
      url: `${baseUrl}/v1/messages`,
      headers: { 'x-api-key': key.value, 'anthropic-version': ANTHROPIC_VERSION },
      body: anthropicRequestBody(request, modelId),
      schema: AnthropicResponse,
      secret: key,
      contextTooLong: anthropicContextTooLong,
    });
    return fromAnthropicResponse(answer, modelId);
  }
}

/** The request body. Exported for tests of the mapping alone. */
export function anthropicRequestBody(request: ModelRequest, modelId: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: modelId,
    max_tokens: request.maxOutputTokens,
    messages: toAnthropicMessages(request.messages),
  };
  // A rolling breakpoint at the end of the conversation: a loop's next turn repeats all of
  // it, so it reads everything up to here from the cache (3 of the API's 4 breakpoints).
  const lastBlock = (body['messages'] as WireMessage[]).at(-1)?.content.at(-1);
  if (lastBlock) lastBlock.cache_control = EPHEMERAL;
  // Prompt caching: the prefix (tools, then system) is the same on every turn of a run,
  // so marking its end lets the provider bill it at the cached rate from the second turn.
  // Models or prefixes too small to cache simply ignore the marker.
  if (request.system.trim() !== '') body['system'] = [{ type: 'text', text: request.system, cache_control: EPHEMERAL }];
  if (request.tools.length > 0) {
    const tools: WireTool[] = request.tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      input_schema: tool.inputSchema,
    }));
    tools[tools.length - 1]!.cache_control = EPHEMERAL;
    body['tools'] = tools;
  }
  return body;
}

/**
 * Our messages → Anthropic's. Tool results travel in a `user` message; the API wants
 * roles to alternate, so consecutive messages of one role are merged, tool results
 * first (they must answer the previous turn's tool_use blocks before anything else).
 * Blank text is dropped: the API refuses empty text blocks.
 */
export function toAnthropicMessages(messages: Message[]): WireMessage[] {
  const wire: WireMessage[] = [];
  for (const message of messages) {
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const content: WireBlock[] = [];
    for (const block of message.content) {
      if (block.type === 'text') {
        if (block.text.trim() !== '') content.push({ type: 'text', text: block.text });
      } else if (block.type === 'tool_call') {
        content.push({ type: 'tool_use', id: block.id, name: block.name, input: block.arguments });
      } else {
        content.push({
          type: 'tool_result',
          tool_use_id: block.callId,
          content: block.content,
          is_error: block.isError,
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
      message.content.sort((a, b) => Number(b.type === 'tool_result') - Number(a.type === 'tool_result'));
  }
  return wire;
}

function fromAnthropicResponse(answer: AnthropicResponse, modelId: string): ModelResponse {
  const content: Array<TextBlock | ToolCallBlock> = [];
  for (const block of answer.content) {
    if (block.type === 'text') content.push({ type: 'text', text: (block as { text: string }).text });
    else if (block.type === 'tool_use') {
      const use = block as { id: string; name: string; input: Record<string, unknown> };
      content.push({ type: 'tool_call', id: use.id, name: use.name, arguments: use.input });
    }
  }
  const usage = answer.usage;
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  return {
    content,
    stopReason:
      answer.stop_reason === 'tool_use' || answer.stop_reason === 'max_tokens' ? answer.stop_reason : 'end_turn',
    // Anthropic's input_tokens counts only what was neither read from nor written to the
    // cache; ours counts every input token, with the cached reads also shown apart.
    inputTokens: usage.input_tokens + cacheRead + cacheWrite,
    outputTokens: usage.output_tokens,
    cachedInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    provider: 'anthropic',
    modelId,
  };
}
