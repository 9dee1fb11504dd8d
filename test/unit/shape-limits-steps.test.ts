import { describe, expect, it } from 'vitest';
import type { ToolCallBlock, ToolResultBlock } from '../../core/definitions/messages.ts';
import { assertJsonShape, RUN_INPUT_LIMITS } from '../../core/limits/json-shape.ts';
import { taskMessage } from '../../core/loop/prompt.ts';
import type { ModelProvider, ModelResponse } from '../../core/ports/models.ts';
import { drive, newRun, stepDeps } from '../support/step-deps.ts';

/**
 * A model answer whose tool-call arguments are over their shape limits, from a provider that
 * hands them over already parsed (as Anthropic's and Bedrock's do): the steps never walk
 * them (no stack overflow), the call is never made, the model is told which limit, and the
 * run goes on to its end. The same through a real provider's wire format, with MCP servers,
 * webhooks and the API, is in test/e2e/input-shapes.test.ts.
 */

const ORG = 'test/fixtures/steps-org';

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Answers a tool call with these arguments first, then says it is done. */
function answering(args: Record<string, unknown>): ModelProvider<'scripted'> {
  let calls = 0;
  const answer = (content: ModelResponse['content']): ModelResponse => ({
    content,
    stopReason: content.some((block) => block.type === 'tool_call') ? 'tool_use' : 'end_turn',
    inputTokens: 10,
    outputTokens: 5,
    cachedInputTokens: 0,
    provider: 'scripted',
    modelId: 'shapes',
  });
  return {
    name: 'scripted',
    async complete() {
      calls += 1;
      const call: ToolCallBlock = { type: 'tool_call', id: 'call-1', name: 'fake__echo', arguments: args };
      return answer(calls === 1 ? [call] : [{ type: 'text', text: 'Done.' }]);
    },
  };
}

async function runWith(args: Record<string, unknown>) {
  const base = await stepDeps(ORG);
  const deps = { ...base, providers: { ...base.providers, scripted: answering(args) } };
  const runId = await newRun(deps, 'stall');
  await drive(deps, runId);
  const state = (await deps.store.loadState(runId))!;
  const results = state.messages.flatMap((message) =>
    message.content.filter((block): block is ToolResultBlock => block.type === 'tool_result'),
  );
  return { deps, meta: state.meta, results, trace: await deps.store.listTrace(runId) };
}

describe("a model's tool-call arguments over their shape limits", () => {
  it.each([
    [
      'nested 200,000 levels deep',
      { x: nested(200_000) },
      /arguments, at arguments\.x.* nests deeper than 32 levels \(maxDepth 32\)$/,
    ],
    [
      'with a string of 300,000 characters',
      { x: 'y'.repeat(300_000) },
      /at arguments\.x has a string longer than 262144 characters \(maxStringChars 262144\)$/,
    ],
    [
      'with an object of 10,001 keys',
      { x: Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, i])) },
      /at arguments\.x has an object with more than 10000 keys \(maxObjectKeys 10000\)$/,
    ],
  ])('%s: the call is refused, the model told which limit, and the run ends completed', async (_, args, why) => {
    const { deps, meta, results, trace } = await runWith(args);
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 2 });
    expect(deps.gateway.calls).toEqual([]);
    expect(results).toHaveLength(1);
    const told = results[0]!.content;
    expect(results[0]!.isError).toBe(true);
    expect(told).toMatch(/^invalid arguments for fake\.echo, so the call was not made: /);
    expect(told).toMatch(why);
    expect(trace.filter((event) => event.kind === 'tool_call').map((event) => event.status)).toEqual(['error']);
  });

  it('within them, the call is made as asked', async () => {
    const { deps, meta } = await runWith({ x: nested(30) });
    expect(meta.stopReason).toBe('completed');
    expect(deps.gateway.calls).toEqual([{ server: 'fake', tool: 'echo', args: { x: nested(30) } }]);
  });
});

describe("a run's input in its task message", () => {
  const fenced = (text: string) => JSON.parse(/```json\n([\s\S]*)\n```$/.exec(text)![1]!) as unknown;

  it('is indented while that stays small, and compact when indenting a deep input would multiply it', () => {
    const small = { repo: 'acme/shop', labels: ['bug'] };
    const smallText = (taskMessage(small).content[0] as { text: string }).text;
    expect(smallText).toContain('\n  "repo": "acme/shop"');
    expect(fenced(smallText)).toEqual(small);

    // At the limits (32 levels, 8,000 leaves, 16 KB): indented, each leaf would carry 64 spaces, over 500 KB.
    let deep: unknown = Array.from({ length: 8_000 }, () => 0);
    for (let i = 0; i < 31; i++) deep = [deep];
    assertJsonShape(deep, RUN_INPUT_LIMITS, 'input');
    const text = (taskMessage(deep).content[0] as { text: string }).text;
    expect(text.length).toBeLessThan(20_000);
    expect(fenced(text)).toEqual(deep);
  });
});
