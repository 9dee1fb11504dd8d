import type { ModelEntry } from '../definitions/catalog.ts';
import type { ProviderName } from '../definitions/org.ts';
import type { Message, TextBlock, ToolCallBlock } from '../definitions/messages.ts';
import type { Role } from '../definitions/run.ts';
import type { ToolSpec } from '../definitions/context.ts';

export interface ModelRequest {
  runId: string;
  role: Role;
  /** The index of this call among the role's calls in the run (a scripted model plays turn N). */
  callIndex: number;
  model: ModelEntry;
  system: string;
  messages: Message[];
  tools: ToolSpec[];
  maxOutputTokens: number;
}

export interface ModelResponse {
  content: Array<TextBlock | ToolCallBlock>;
  stopReason: 'end_turn' | 'tool_use' | 'max_tokens';
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache (a part of inputTokens). */
  cachedInputTokens: number;
  /** Input tokens written to the prompt cache (a part of inputTokens, priced at the cache-write rate). */
  cacheWriteInputTokens?: number;
  provider: string;
  modelId: string;
}

/**
 * One model provider speaking its own wire format. Throws ModelUnavailableError for
 * what is worth retrying (429, 5xx, timeouts) and ConfigurationError for what is not.
 */
export interface ModelProvider<Name extends ProviderName = ProviderName> {
  readonly name: Name;
  complete(request: ModelRequest): Promise<ModelResponse>;
}

/**
 * One provider for each `provider:` a model may declare (core/definitions/org.ts), under
 * its own name: the registry cannot miss one, nor hold one the schema does not know.
 */
export type ModelProviders = { readonly [Name in ProviderName]: ModelProvider<Name> };
