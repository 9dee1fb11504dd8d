import { costMicros } from '../budgets/pricing.ts';
import type { ModelEntry } from '../definitions/catalog.ts';
import { readableToolName, type AgentView } from '../definitions/context.ts';
import { toolCallsOf } from '../definitions/messages.ts';
import { addUsage } from '../definitions/run.ts';
import { ConfigurationError, errorMessage, ModelUnavailableError } from '../errors.ts';
import type { Verdict } from '../guardrails/types.ts';
import type { ModelProvider, ModelRequest, ModelResponse } from '../ports/models.ts';
import { scoped, type RunDeps } from './deps.ts';
import { elapsedMs, type StartedRunState } from './load.ts';
import { recorded, screenText, screenValue } from './screening.ts';
import type { StepWriter } from './step-writer.ts';
import { withinShapeLimits } from './tools/shape-limits.ts';

/**
 * The model call itself, apart from ModelStep's decisions around it: the request as the
 * agent's own identity, the fallback model on an outage, usage and the trace event, and the
 * answer through the model_output guardrails.
 */

/** What one model call uses: the clock, the providers as the agent's identity, the guardrail rules. */
export type ModelCallDeps = Pick<RunDeps, 'clock' | 'scopeFor' | 'tools' | 'providers' | 'guardrailRules'>;

/** One model call (with the fallback model on an outage), its usage and trace written, its output screened. */
export async function callModel(deps: ModelCallDeps, state: StartedRunState, writer: StepWriter) {
  const { meta, context, messages } = state;
  const request = (model: ModelEntry): ModelRequest => ({
    runId: meta.runId,
    role: context.view.role,
    callIndex: (meta.callOffset ?? 0) + meta.modelCalls,
    model,
    system: context.systemPrompt,
    messages,
    tools: context.tools,
    maxOutputTokens: Math.min(context.view.limits.maxOutputTokens, model.declaration.max_output_tokens ?? Infinity),
  });
  const started = deps.clock.now();
  let model = context.view.model;
  let fallbackFrom: string | undefined;
  let response: ModelResponse;
  try {
    response = await providerFor(deps, state, model).complete(request(model));
  } catch (error) {
    const fallback = context.view.fallbackModel;
    // Only an outage moves to the fallback: a configuration error would fail there too.
    if (!(error instanceof ModelUnavailableError) || !fallback) throw error;
    fallbackFrom = `${model.name} unavailable (${errorMessage(error)})`;
    model = fallback;
    response = await providerFor(deps, state, model).complete(request(model));
  }
  const ended = deps.clock.now();
  const usage = {
    inputTokens: response.inputTokens,
    outputTokens: response.outputTokens,
    cachedInputTokens: response.cachedInputTokens,
    costMicros: costMicros(model.declaration.price, response),
  };
  const cacheWrites = response.cacheWriteInputTokens
    ? `; ${response.cacheWriteInputTokens} input tokens written to the cache`
    : '';
  writer.meta.usage = addUsage(writer.meta.usage, usage);
  // A tool call's arguments over their shape limits are refused as invalid (the model reads why), never walked.
  const bounded = response.content.map((block) => (block.type === 'tool_call' ? withinShapeLimits(block) : block));
  const screened = screenOutput(deps, context.view, bounded);
  const calls = toolCallsOf({ role: 'assistant', content: response.content });
  const answered =
    calls.length > 0
      ? `asked for ${calls.map((call) => readableToolName(call.name)).join(', ')}`
      : `answered (${response.stopReason})`;
  writer.addTrace({
    kind: 'model_call',
    role: context.view.role,
    name: model.name,
    status: 'ok',
    startedAt: started.toISOString(),
    endedAt: ended.toISOString(),
    latencyMs: elapsedMs(started, ended),
    ...usage,
    provider: response.provider,
    model: response.modelId,
    scripted: model.declaration.provider === 'scripted' || undefined,
    fallback: fallbackFrom !== undefined || undefined,
    detail: (fallbackFrom ? `fallback: ${fallbackFrom}; ${answered}` : answered) + cacheWrites,
    guardrails: recorded(screened.verdicts),
  });
  return {
    response: { ...response, content: screened.content, modelName: model.name },
    blocked: screened.blocked,
    usage,
  };
}

export type ModelCallResult = Awaited<ReturnType<typeof callModel>>;

function providerFor(
  deps: Pick<RunDeps, 'scopeFor' | 'tools' | 'providers'>,
  state: StartedRunState,
  model: ModelEntry,
): ModelProvider {
  const provider = scoped(deps, state.context.view, state.meta.runId).providers[model.declaration.provider];
  if (!provider)
    throw new ConfigurationError(`no provider "${model.declaration.provider}" is configured for model ${model.name}`);
  return provider;
}

/** The model's turn through the model_output guardrails: text and every tool call's arguments. */
function screenOutput(deps: Pick<RunDeps, 'guardrailRules'>, view: AgentView, content: ModelResponse['content']) {
  const verdicts: Verdict[] = [];
  let blocked: Verdict | undefined;
  const screened = content.map((block) => {
    const result =
      block.type === 'text'
        ? screenText(deps, view, block.text, 'model_output')
        : screenValue(deps, view, block.arguments, 'model_output');
    verdicts.push(...result.verdicts);
    blocked ??= result.blocked;
    if (block.type === 'text') return { ...block, text: (result as { text: string }).text };
    return { ...block, arguments: (result as { value: Record<string, unknown> }).value };
  });
  return { content: screened, verdicts, blocked };
}
