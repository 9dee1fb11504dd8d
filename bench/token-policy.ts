import { createHash } from 'node:crypto';
import { getEncoding } from 'js-tiktoken';
import type { ToolSpec } from '../core/definitions/context.ts';
import type { Message, TextBlock, ToolCallBlock } from '../core/definitions/messages.ts';
import type { ModelProvider, ModelRequest, ModelResponse } from '../core/ports/models.ts';
import { codeModeScripts, PLAN, REPORT } from './token-scenario.ts';

/**
 * The token benchmark's model (tokens.ts): a scripted policy that plays the reference plan
 * and counts the tokens of each request as sent, with prompt caching simulated.
 */

const enc = getEncoding('o200k_base');
export const countTokens = (text: string) => enc.encode(text).length;

/** A tool as the request carries it to the provider (Anthropic's tool format): the block counted as its tool-schema tokens. */
export const toolBlock = (tool: Pick<ToolSpec, 'name' | 'description' | 'inputSchema'>) =>
  JSON.stringify({ name: tool.name, description: tool.description, input_schema: tool.inputSchema });

/** One model request's tools as sent, and their tokens (counted with the rest of the request). */
export interface ToolsSent {
  runId: string;
  tools: ToolSpec[];
  tokens: number;
}

/**
 * The scripted policy: it plays PLAN in order, one step per turn, the same in the naive and
 * lean modes (code mode plays codeModeScripts instead).
 * It answers what it is shown, like a model would: when the next step's tools are not in
 * the request (deferred), it first loads every tool the plan uses, one load_tools call per
 * server in a single turn; when a step needs a fact from a result that was offloaded, it
 * first reads it back with one read_result grep. Its text and arguments are identical
 * across modes, so output tokens differ only by those extra turns.
 */
export class PolicyProvider implements ModelProvider {
  readonly name = 'scripted';
  readonly #root: string;
  readonly #caching: boolean;
  readonly #codeMode: boolean;
  /** Prefixes written to the cache (hashes at breakpoints), per run. */
  readonly #cache = new Map<string, Set<string>>();
  /** Per run: which plan step is next, and the grep already done for it. */
  readonly #progress = new Map<string, { step: number; grepped: boolean; loaded: boolean }>();
  calls = 0;
  /** Every request's tools, in order: what the benchmark compares with the servers' published schemas. */
  readonly toolsSent: ToolsSent[] = [];

  constructor(root: string, caching: boolean, codeMode = false) {
    this.#root = root;
    this.#caching = caching;
    this.#codeMode = codeMode;
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    this.calls += 1;
    const progress = this.#progress.get(request.runId) ?? { step: 0, grepped: false, loaded: false };
    this.#progress.set(request.runId, progress);
    const shown = new Set(request.tools.map((tool) => tool.name));
    const content: Array<TextBlock | ToolCallBlock> = [];
    const id = () => `call-${this.calls}-${content.length}`;
    const step = PLAN[progress.step];
    const scripts = this.#codeMode ? codeModeScripts(this.#root) : [];
    if (this.#codeMode) {
      // One program per phase, then the report: the plan's calls, made from the sandbox.
      const script = scripts[progress.step];
      progress.step += 1;
      if (script)
        content.push(
          {
            type: 'text',
            text:
              progress.step === 1
                ? 'Reading every log in one program; only the failures come back.'
                : 'Recording the failures and owners in one program.',
          },
          { type: 'tool_call', id: id(), name: 'sandbox__run_code', arguments: { code: script } },
        );
      else content.push({ type: 'text', text: REPORT });
    } else if (!step) {
      content.push({ type: 'text', text: REPORT });
    } else if (
      !progress.loaded &&
      step.calls.some((call) => !shown.has(`${call.server}__${call.tool}`)) &&
      shown.has('looprail__load_tools')
    ) {
      progress.loaded = true;
      content.push({ type: 'text', text: 'Loading the tools this task needs.' });
      const byServer = new Map<string, Set<string>>();
      for (const planned of PLAN.flatMap((s) => s.calls))
        byServer.set(planned.server, (byServer.get(planned.server) ?? new Set()).add(planned.tool));
      for (const [server, tools] of byServer)
        content.push({
          type: 'tool_call',
          id: id(),
          name: 'looprail__load_tools',
          arguments: { server, tools: [...tools] },
        });
    } else if (step.needs && !progress.grepped && this.#offloadedHandle(request.messages)) {
      progress.grepped = true;
      content.push({ type: 'text', text: `Looking for "${step.needs}" in the stored result.` });
      content.push({
        type: 'tool_call',
        id: id(),
        name: 'looprail__read_result',
        arguments: { handle: this.#offloadedHandle(request.messages)!, grep: step.needs },
      });
    } else {
      progress.step += 1;
      progress.grepped = false;
      content.push({ type: 'text', text: step.say });
      for (const call of step.calls)
        content.push({
          type: 'tool_call',
          id: id(),
          name: `${call.server}__${call.tool}`,
          arguments: call.args(this.#root),
        });
    }
    const usage = this.#usage(request);
    return {
      content,
      stopReason: content.some((block) => block.type === 'tool_call') ? 'tool_use' : 'end_turn',
      ...usage,
      outputTokens: countTokens(JSON.stringify(content)),
      provider: 'scripted',
      modelId: 'bench-policy',
    };
  }

  /** The handle of an offloaded result among the last tool message's results. */
  #offloadedHandle(messages: Message[]): string | undefined {
    const last = [...messages].reverse().find((message) => message.role === 'tool');
    for (const block of last?.content ?? []) {
      const match = block.type === 'tool_result' ? /handle: (\S+) — read it with/.exec(block.content) : null;
      if (match) return match[1];
    }
    return undefined;
  }

  /**
   * Tokens as sent, in the provider's order (tools, system, messages), and prompt caching
   * as Anthropic does it: breakpoints after the tools, the system prompt and the last
   * message; a request reads from the cache the longest prefix ending at a block boundary
   * that an earlier request wrote at one of its breakpoints, and writes the rest up to its
   * last breakpoint. Naive mode sends no breakpoints: nothing is cached.
   */
  #usage(request: ModelRequest): { inputTokens: number; cachedInputTokens: number; cacheWriteInputTokens: number } {
    const blocks: string[] = [
      ...request.tools.map(toolBlock),
      request.system,
      ...request.messages.flatMap((message) =>
        message.content.map((block) => `${message.role}:${JSON.stringify(block)}`),
      ),
    ];
    const sizes = blocks.map(countTokens);
    const inputTokens = sizes.reduce((a, b) => a + b, 0);
    this.toolsSent.push({
      runId: request.runId,
      tools: request.tools,
      tokens: sizes.slice(0, request.tools.length).reduce((a, b) => a + b, 0),
    });
    if (!this.#caching) return { inputTokens, cachedInputTokens: 0, cacheWriteInputTokens: 0 };
    const hashes: string[] = [];
    const hash = createHash('sha256');
    for (const block of blocks) hashes.push(hash.update(block).copy().digest('hex'));
    const cache = this.#cache.get(request.runId) ?? new Set<string>();
    this.#cache.set(request.runId, cache);
    let cached = 0;
    let upTo = 0;
    for (let i = 0; i < blocks.length; i++) {
      upTo += sizes[i]!;
      if (cache.has(hashes[i]!)) cached = upTo;
    }
    const breakpoints = [request.tools.length - 1, request.tools.length, blocks.length - 1].filter(
      (index) => index >= 0,
    );
    for (const index of breakpoints) cache.add(hashes[index]!);
    return { inputTokens, cachedInputTokens: cached, cacheWriteInputTokens: inputTokens - cached };
  }
}
