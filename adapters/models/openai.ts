import * as z from '../../core/definitions/zod.ts';
import {
  INVALID_ARGUMENTS_KEY,
  REFUSED_ARGUMENTS_KEY,
  type Message,
  type TextBlock,
  type ToolCallBlock,
} from '../../core/definitions/messages.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { jsonTextDepthProblem, MAX_JSON_DEPTH } from '../../core/limits/json-shape.ts';
import type { ModelProvider, ModelRequest, ModelResponse } from '../../core/ports/models.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import { HttpCaller, readApiKey } from './http-call.ts';
import type { HttpCallSettings, ProviderRefusal } from './http-call.ts';

/**
 * OpenAI's Chat Completions API (`POST {base_url}/chat/completions`), which is also what
 * most self-hosted servers speak (vLLM, Ollama, LiteLLM). A model that declares a secret
 * sends its key as a bearer token; one that declares none sends no Authorization header
 * at all, for a team's own server that needs no key.
 */

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/**
 * The argument key a tool call gets when the model's `arguments` string is not a JSON
 * object. The call is kept (the run records what the model asked for) with the raw text
 * under this key, so the tool step's schema check refuses it and the model reads why,
 * rather than the whole step failing on one bad string.
 */
export { INVALID_ARGUMENTS_KEY } from '../../core/definitions/messages.ts';

/**
 * OpenAI's refusal of a prompt over the window: code `context_length_exceeded`. Compatible
 * servers (vLLM, Ollama, LiteLLM) send no code, only vLLM's and OpenAI's own wording.
 */
export function openAiContextTooLong(refusal: ProviderRefusal): boolean {
  if (refusal.code === 'context_length_exceeded') return true;
  const tooLong = /maximum context length|context[_ ]length|context window/i;
  return refusal.status === 400 && tooLong.test(refusal.message ?? '');
}

export interface OpenAiProviderOptions extends HttpCallSettings {
  secrets: SecretStore;
}

interface WireToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}
type WireMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: WireToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

const Count = z.number().check(z.int(), z.minimum(0));
const OpenAiResponse = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({
          content: z.nullish(z.string()),
          refusal: z.nullish(z.string()),
          tool_calls: z.nullish(
            z.array(
              z.looseObject({
                // Some compatible servers leave the id out; one is made up below.
                id: z.nullish(z.string()),
                function: z.looseObject({ name: z.string().check(z.minLength(1)), arguments: z.nullish(z.string()) }),
              }),
            ),
          ),
        }),
        finish_reason: z.nullish(z.string()),
      }),
    )
    .check(z.minLength(1, 'expected at least one choice')),
  // Required: an answer without usage would spend tokens no budget sees.
  usage: z.looseObject({
    prompt_tokens: Count,
    completion_tokens: Count,
    prompt_tokens_details: z.nullish(z.looseObject({ cached_tokens: z.nullish(Count) })),
  }),
});
type OpenAiResponse = z.infer<typeof OpenAiResponse>;

export class OpenAiProvider implements ModelProvider {
  readonly name = 'openai';
  readonly #secrets: SecretStore;
  readonly #http: HttpCaller;

  constructor(options: OpenAiProviderOptions) {
    this.#secrets = options.secrets;
    this.#http = new HttpCaller(options);
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    const declaration = request.model.declaration;
    if (declaration.provider !== 'openai')
      throw new ConfigurationError(`model ${request.model.name} is declared for ${declaration.provider}, not openai`);
    const modelId = declaration.model_id ?? request.model.name;
    const key = declaration.secret !== undefined ? await readApiKey(this.#secrets, declaration.secret) : undefined;
    const baseUrl = (declaration.base_url ?? OPENAI_DEFAULT_BASE_URL).replace(/\/+$/, '');

    const answer = await this.#http.postJson({
      provider: this.name,
      model: request.model.name,
      modelId,
      url: `${baseUrl}/chat/completions`,
      headers: key ? { authorization: `Bearer ${key.value}` } : {},
      body: openAiRequestBody(request, modelId),
      schema: OpenAiResponse,
      secret: key,
      contextTooLong: openAiContextTooLong,
    });
    return fromOpenAiResponse(answer, request, modelId);
  }
}

/** The request body. Exported for tests of the mapping alone. */
export function openAiRequestBody(request: ModelRequest, modelId: string): Record<string, unknown> {
  const messages: WireMessage[] = [];
  if (request.system.trim() !== '') messages.push({ role: 'system', content: request.system });
  messages.push(...toOpenAiMessages(request.messages));
  const body: Record<string, unknown> = {
    model: modelId,
    messages,
    // max_tokens is deprecated and refused by reasoning models; this is its replacement.
    max_completion_tokens: request.maxOutputTokens,
  };
  // OpenAI refuses an empty tools array, so none is sent when the agent has no tools.
  if (request.tools.length > 0) {
    body['tools'] = request.tools.map((tool) => ({
      type: 'function',
      function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
    }));
  }
  // Prompt caching needs nothing here: OpenAI caches long prefixes by itself and reports it in usage.
  return body;
}

/**
 * Our messages → Chat Completions messages. Each tool result is its own `tool` message.
 * Chat Completions has no error flag on a tool result, so a failed call says so in its text.
 */
export function toOpenAiMessages(messages: Message[]): WireMessage[] {
  const wire: WireMessage[] = [];
  for (const message of messages) {
    const text = message.content
      .filter((block): block is TextBlock => block.type === 'text')
      .map((block) => block.text)
      .join('\n');
    const calls = message.content.filter((block): block is ToolCallBlock => block.type === 'tool_call');
    for (const block of message.content) {
      if (block.type !== 'tool_result') continue;
      wire.push({
        role: 'tool',
        tool_call_id: block.callId,
        content: block.isError ? `Error: ${block.content}` : block.content,
      });
    }
    if (message.role === 'assistant') {
      if (text.trim() === '' && calls.length === 0) continue;
      wire.push({
        role: 'assistant',
        content: text.trim() === '' ? null : text,
        ...(calls.length > 0 && {
          tool_calls: calls.map((call) => ({
            id: call.id,
            type: 'function' as const,
            function: { name: call.name, arguments: JSON.stringify(call.arguments) },
          })),
        }),
      });
    } else if (text.trim() !== '') {
      wire.push({ role: 'user', content: text });
    }
  }
  return wire;
}

function fromOpenAiResponse(answer: OpenAiResponse, request: ModelRequest, modelId: string): ModelResponse {
  const choice = answer.choices[0]!;
  const content: Array<TextBlock | ToolCallBlock> = [];
  // A refusal comes instead of content; the model's words are kept either way.
  const text = choice.message.content ?? choice.message.refusal;
  if (text) content.push({ type: 'text', text });
  (choice.message.tool_calls ?? []).forEach((call, i) => {
    content.push({
      type: 'tool_call',
      id: call.id || `${request.role}-call-${request.callIndex}-${i}`,
      name: call.function.name,
      arguments: parseArguments(call.function.arguments ?? ''),
    });
  });
  const hasToolCalls = content.some((block) => block.type === 'tool_call');
  const usage = answer.usage;
  return {
    content,
    // `length` is the only way to run out of tokens; otherwise the calls decide, because
    // some compatible servers say `stop` even when they answered with tool calls.
    stopReason: choice.finish_reason === 'length' ? 'max_tokens' : hasToolCalls ? 'tool_use' : 'end_turn',
    // prompt_tokens already includes the cached ones; cached_tokens is the part of it read from the cache.
    inputTokens: usage.prompt_tokens,
    outputTokens: usage.completion_tokens,
    cachedInputTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    provider: 'openai',
    modelId,
  };
}

/** The model's JSON-string arguments as an object; see INVALID_ARGUMENTS_KEY for what a bad string becomes. */
export function parseArguments(raw: string): Record<string, unknown> {
  // A tool without parameters often gets an empty string rather than `{}`.
  if (raw.trim() === '') return {};
  // Too deep to parse safely: kept as why, and the call refused (core/limits/json-shape.ts).
  const deep = jsonTextDepthProblem(raw, MAX_JSON_DEPTH, 'arguments');
  if (deep) return { [REFUSED_ARGUMENTS_KEY]: deep.message };
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through: kept as raw text below
  }
  return { [INVALID_ARGUMENTS_KEY]: raw };
}
