import type { ToolSpec } from '../definitions/context.ts';
import type { ModelEntry } from '../definitions/catalog.ts';
import type { Message } from '../definitions/messages.ts';
import { addUsage, type RunMeta, type Usage } from '../definitions/run.ts';
import { costMicros } from '../budgets/pricing.ts';
import { ConfigurationError, errorMessage } from '../errors.ts';
import type { StopDecision } from '../loop/limits.ts';
import { scoped, type RunDeps } from './deps.ts';
import { elapsedMs, type StartedRunState } from './load.ts';
import { estimateTokens } from './offload.ts';
import { blockedReason, screenText } from './screening.ts';
import type { StepWriter } from './step-writer.ts';

/**
 * Compaction: when the context a model call would carry passes a fraction of the model's
 * context_window, the older turns are summarised (by the agent's model or the cheaper one
 * the definition names) and the summary replaces them in every later call. The stored
 * conversation keeps every message; the run record says which ones the summary covers.
 * The kept tail starts at an assistant turn, so every tool result still follows its call.
 */

/** Messages after the summary that are always kept verbatim: the last two turns and their results. */
const KEEP_RECENT = 4;
const SUMMARY_TOKENS = 1_500;
/** Per tool result in the transcript the summariser reads: enough to keep the facts, not the bulk. */
const TRANSCRIPT_RESULT_CHARS = 4_000;

const SUMMARY_PREFIX = 'Summary of the earlier work in this run (older turns were compacted to save context):';

export function summaryMessage(summary: string): Message {
  return { role: 'user', content: [{ type: 'text', text: `${SUMMARY_PREFIX}\n\n${summary}` }] };
}

/** The conversation as the model sees it: the task, the summary of compacted turns, then the rest. */
export function contextMessages(meta: Pick<RunMeta, 'compaction'>, messages: Message[]): Message[] {
  const compaction = meta.compaction;
  if (!compaction || messages.length === 0) return messages;
  return [messages[0]!, summaryMessage(compaction.summary), ...messages.slice(compaction.through)];
}

export function contextTokens(system: string, tools: ToolSpec[], messages: Message[]): number {
  return (
    estimateTokens(system) +
    estimateTokens(JSON.stringify(tools.map((tool) => [tool.name, tool.description, tool.inputSchema]))) +
    estimateTokens(JSON.stringify(messages))
  );
}

/** Where the kept tail starts: the last assistant turn that leaves at least KEEP_RECENT messages after the summary, past what is compacted already. */
export function compactionSplit(
  meta: Pick<RunMeta, 'compaction'>,
  messages: Message[],
): { from: number; to: number } | undefined {
  const from = meta.compaction?.through ?? 1;
  for (let to = messages.length - KEEP_RECENT; to > from; to -= 1) {
    if (messages[to]!.role === 'assistant') return { from, to };
  }
  return undefined;
}

/** The turns to summarise, as plain text (tool calls and results included, long results shortened). */
export function transcript(messages: Message[]): string {
  const lines: string[] = [];
  for (const message of messages) {
    for (const block of message.content) {
      if (block.type === 'text') lines.push(`[${message.role}] ${block.text}`);
      else if (block.type === 'tool_call')
        lines.push(`[assistant called ${block.name}] ${JSON.stringify(block.arguments).slice(0, 1_000)}`);
      else {
        const content =
          block.content.length > TRANSCRIPT_RESULT_CHARS
            ? `${block.content.slice(0, TRANSCRIPT_RESULT_CHARS)} […${block.content.length - TRANSCRIPT_RESULT_CHARS} more characters]`
            : block.content;
        lines.push(`[result of ${block.name}${block.isError ? ', an error' : ''}] ${content}`);
      }
    }
  }
  return lines.join('\n');
}

const SUMMARISER_SYSTEM =
  'You compress the working history of an unattended agent loop so it can continue with less context. ' +
  'Write a dense summary of the transcript: the facts learned (with the exact ids, names, paths, numbers and result handles needed later), ' +
  'what was done, what failed, decisions made, and what is left to do. No preamble, no advice; do not invent anything.';

export interface CompactionOutcome {
  /** The model that summarised and what it cost (on the run's usage already). */
  spent?: { model: string; usage: Usage };
  stop?: StopDecision;
}

/**
 * Compacts the writer's run when the next call's context is over the threshold. Records a
 * `context_compacted` trace event either way it goes, and adds the summariser's spend to the run.
 */
export async function compactIfNeeded(
  deps: Pick<RunDeps, 'clock' | 'scopeFor' | 'tools' | 'providers' | 'guardrailRules'>,
  state: StartedRunState,
  writer: StepWriter,
  tools: ToolSpec[],
  options: { force?: boolean } = {},
): Promise<CompactionOutcome> {
  const { context, messages } = state;
  const view = context.view;
  const window = view.model.declaration.context_window;
  const settings = view.limits.compaction;
  if (!settings) return {};
  const before = contextTokens(context.systemPrompt, tools, contextMessages(writer.meta, messages));
  // Forced when the provider refused the call as too long, whatever the estimate says.
  if (!options.force && (!window || before <= settings.at * window)) return {};
  const split = compactionSplit(writer.meta, messages);
  // Nothing old enough to summarise: the call goes ahead (the provider refuses it if it is truly too long).
  if (!split) return {};
  const model: ModelEntry = settings.model ?? view.model;
  const started = deps.clock.now();
  const previous = writer.meta.compaction;
  const text =
    (previous ? `${SUMMARY_PREFIX}\n${previous.summary}\n\n` : '') + transcript(messages.slice(split.from, split.to));
  const trace = {
    kind: 'context_compacted' as const,
    role: view.role,
    name: model.name,
    provider: model.declaration.provider,
    startedAt: started.toISOString(),
  };
  const range = `messages ${split.from + 1}–${split.to}`;
  try {
    const provider = scoped(deps, view, writer.meta.runId).providers[model.declaration.provider];
    if (!provider)
      throw new ConfigurationError(`no provider "${model.declaration.provider}" is configured for model ${model.name}`);
    const response = await provider.complete({
      runId: writer.meta.runId,
      role: view.role,
      callIndex: previous?.count ?? 0,
      model,
      system: SUMMARISER_SYSTEM,
      messages: [{ role: 'user', content: [{ type: 'text', text }] }],
      tools: [],
      maxOutputTokens: Math.min(SUMMARY_TOKENS, model.declaration.max_output_tokens ?? Infinity),
    });
    const usage: Usage = {
      inputTokens: response.inputTokens,
      outputTokens: response.outputTokens,
      cachedInputTokens: response.cachedInputTokens,
      costMicros: costMicros(model.declaration.price, response),
    };
    writer.meta.usage = addUsage(writer.meta.usage, usage);
    const ended = deps.clock.now();
    const summary = response.content
      .map((block) => (block.type === 'text' ? block.text : ''))
      .join('\n')
      .trim();
    const screened = screenText(deps, view, summary, 'model_output');
    const problem =
      summary === ''
        ? 'the summariser answered with no text'
        : screened.blocked
          ? `the summary was ${blockedReason(screened.blocked)}`
          : undefined;
    if (problem) return { spent: { model: model.name, usage }, ...failed(problem, usage, ended) };
    writer.meta.compaction = { through: split.to, summary: screened.text, count: (previous?.count ?? 0) + 1 };
    const after = contextTokens(context.systemPrompt, tools, contextMessages(writer.meta, messages));
    writer.addTrace({
      ...trace,
      status: 'ok',
      endedAt: ended.toISOString(),
      latencyMs: elapsedMs(started, ended),
      ...usage,
      model: response.modelId,
      detail: `summarised ${range} into ~${estimateTokens(screened.text)} tokens: context ~${before} → ~${after} tokens (${options.force ? 'the model refused the context as too long' : `threshold ${Math.round(settings.at * window!)} of ${window}`})`,
    });
    return { spent: { model: model.name, usage } };
  } catch (error) {
    return failed(errorMessage(error), undefined, deps.clock.now());
  }

  function failed(reason: string, usage: Usage | undefined, ended: Date): CompactionOutcome {
    const stopping = settings!.onFailure === 'stop';
    const detail = `compacting ${range} failed (${reason}); ${stopping ? 'the run stops (on_compaction_failure: stop)' : 'continuing with the context uncompacted'}`;
    writer.addTrace({
      ...trace,
      status: 'error',
      endedAt: ended.toISOString(),
      latencyMs: elapsedMs(started, ended),
      ...(usage ?? {}),
      detail,
    });
    return stopping ? { stop: { reason: 'error', detail: `context compaction failed: ${reason}` } } : {};
  }
}
