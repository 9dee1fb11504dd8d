import type { ModelProviders } from '../../core/ports/models.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import { AnthropicProvider } from './anthropic.ts';
import { BedrockProvider, type BedrockClientFor } from './bedrock.ts';
import type { HttpCallSettings } from './http-call.ts';
import { OpenAiProvider } from './openai.ts';
import { ScriptedModelProvider } from './scripted.ts';

/**
 * Every model provider, keyed by the `provider` a model declares in models.yaml. The
 * composition root builds this once; providers hold no per-run state.
 */

export interface ModelProvidersOptions extends HttpCallSettings {
  /** Where Anthropic and OpenAI keys are read, by name, on each call. */
  secrets: SecretStore;
  /** A Bedrock client for a region (undefined: the ambient one). Default: one SDK client per region. */
  bedrockClientFor?: BedrockClientFor;
}

export function modelProviders(options: ModelProvidersOptions): ModelProviders {
  const { secrets, bedrockClientFor, ...http } = options;
  return {
    bedrock: new BedrockProvider({ clientFor: bedrockClientFor, timeoutMs: http.timeoutMs }),
    anthropic: new AnthropicProvider({ secrets, ...http }),
    openai: new OpenAiProvider({ secrets, ...http }),
    scripted: new ScriptedModelProvider(),
  };
}

export { AnthropicProvider } from './anthropic.ts';
export { BedrockProvider } from './bedrock.ts';
export { OpenAiProvider } from './openai.ts';
export { ScriptedModelProvider } from './scripted.ts';
