import { callableToolName } from '../../core/definitions/context.ts';
import type { TextBlock, ToolCallBlock } from '../../core/definitions/messages.ts';
import { ConfigurationError, ContextTooLongError, ModelUnavailableError } from '../../core/errors.ts';
import type { ModelProvider, ModelRequest, ModelResponse } from '../../core/ports/models.ts';

/**
 * The scripted provider plays a YAML script of assistant turns, in order, for offline
 * runs and tests. Turn N answers the role's Nth call in the run, so a run replays the
 * same way every time. Every trace event it produces is marked `scripted`.
 */

/** A rough, deterministic token estimate (about four characters a token) for turns that do not state usage. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

export class ScriptedModelProvider implements ModelProvider {
  readonly name = 'scripted';

  async complete(request: ModelRequest): Promise<ModelResponse> {
    const script = request.model.script;
    if (!script) throw new ConfigurationError(`model ${request.model.name} is scripted but its snapshot has no script`);
    let index = request.callIndex;
    if (index >= script.turns.length) {
      if (script.after_last === 'repeat_last') index = script.turns.length - 1;
      else
        throw new ConfigurationError(
          `scripted model ${request.model.name} has ${script.turns.length} turns; call ${request.callIndex + 1} has none (set after_last: repeat_last to replay the last turn)`,
        );
    }
    const turn = script.turns[index]!;
    if (turn.delay_ms) await new Promise((resolve) => setTimeout(resolve, turn.delay_ms));
    if (turn.error === 'unavailable')
      throw new ModelUnavailableError(
        `scripted model ${request.model.name} is unavailable (scripted outage at call ${request.callIndex + 1})`,
      );
    if (turn.error === 'configuration')
      throw new ConfigurationError(
        `scripted model ${request.model.name} refused the call (scripted configuration error at call ${request.callIndex + 1})`,
      );
    if (turn.error === 'context_too_long') {
      const at = `scripted at call ${request.callIndex + 1}`;
      throw new ContextTooLongError(`scripted model ${request.model.name} refused the prompt as too long (${at})`);
    }
    const content: Array<TextBlock | ToolCallBlock> = [];
    if (turn.text) content.push({ type: 'text', text: turn.text });
    turn.tool_calls.forEach((call, i) => {
      content.push({
        type: 'tool_call',
        id: `call-${request.callIndex}-${i}`,
        // Written `server.tool` as people read it, or `server__tool`: the model calls the latter.
        name: callableToolName(call.tool),
        arguments: call.arguments,
      });
    });
    const prompt =
      request.system +
      JSON.stringify(request.messages) +
      JSON.stringify(request.tools.map((t) => [t.name, t.description, t.inputSchema]));
    return {
      content,
      stopReason: turn.tool_calls.length > 0 ? 'tool_use' : 'end_turn',
      inputTokens: turn.usage?.input_tokens ?? estimateTokens(prompt),
      outputTokens: turn.usage?.output_tokens ?? estimateTokens(JSON.stringify(content)),
      cachedInputTokens: turn.usage?.cached_input_tokens ?? 0,
      provider: 'scripted',
      modelId: request.model.declaration.model_id ?? request.model.name,
    };
  }
}
