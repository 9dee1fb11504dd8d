import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { anthropic, type FakeModelServer } from '../support/fake-model-servers.ts';
import { testHost } from '../support/local-host.ts';

/**
 * Compaction against Anthropic's wire format: the agent's model on one local server, the
 * cheaper summariser on another, so each sees exactly its own requests.
 */

const KEY = ['sk-ant-', 'looprail', 'TESTkey', '1'.repeat(24)].join('');
let main: FakeModelServer;
let cheap: FakeModelServer;
let org: string;
let host: LocalHost;

interface WireBlock {
  type: string;
  text?: string;
  id?: string;
  tool_use_id?: string;
}
interface WireRequest {
  system?: Array<{ text: string }>;
  messages: Array<{ role: string; content: WireBlock[] }>;
}

const usage = { input_tokens: 100, output_tokens: 10 };
const echoTurn = (n: number) =>
  anthropic.message({
    toolCalls: [{ id: `toolu_${n}`, name: 'everything__echo', input: { message: `${n}`.repeat(1_200) } }],
    usage,
  });

beforeAll(async () => {
  main = await anthropic.start();
  cheap = await anthropic.start();
  org = await mkdtemp(join(tmpdir(), 'looprail-compaction-org-'));
  await mkdir(join(org, 'mcp-servers'));
  await writeFile(join(org, 'secrets.yaml'), 'secrets:\n  anthropic-key: {}\n');
  await writeFile(
    join(org, 'models.yaml'),
    'models:\n' +
      `  claude-small:\n    provider: anthropic\n    model_id: claude-sonnet-4-5\n    base_url: ${main.url}\n    secret: anthropic-key\n    context_window: 4000\n    price: { input_per_mtok: 3, output_per_mtok: 15 }\n` +
      `  claude-nowindow:\n    provider: anthropic\n    model_id: claude-sonnet-4-5\n    base_url: ${main.url}\n    secret: anthropic-key\n    price: { input_per_mtok: 3, output_per_mtok: 15 }\n` +
      `  claude-cheap:\n    provider: anthropic\n    model_id: claude-haiku-4-5\n    base_url: ${cheap.url}\n    secret: anthropic-key\n    price: { input_per_mtok: 1, output_per_mtok: 5 }\n`,
  );
  await writeFile(
    join(org, 'mcp-servers/everything.yaml'),
    'name: everything\ndefer_loading: false\ntransport: { type: stdio, command: mcp-server-everything, args: [stdio] }\ntools:\n  echo: {}\n',
  );
  await writeFile(join(org, 'instructions.md'), 'Echo things.\n');
  const agent = (name: string, onFailure: string, model = 'claude-small') =>
    writeFile(
      join(org, `${name}.yaml`),
      `agent:\n  name: ${name}\n  owner: tests@example.com\n  model: ${model}\n  instructions: ./instructions.md@v1\n  mcp_servers: [everything]\n` +
        `  harness: { context: { compact_at: 0.5, compaction_model: claude-cheap, on_compaction_failure: ${onFailure} } }\n`,
    );
  await agent('compacting', 'continue');
  await agent('strict', 'stop');
  await agent('reactive', 'continue', 'claude-nowindow');
  process.env.LOOPRAIL_SECRET_ANTHROPIC_KEY = KEY;
  host = await testHost(org);
});

afterAll(async () => {
  await host?.close();
  await main?.close();
  await cheap?.close();
  await rm(org, { recursive: true, force: true });
  delete process.env.LOOPRAIL_SECRET_ANTHROPIC_KEY;
});

/** Every tool_result answers a tool_use of the assistant message just before it. */
function pairingValid(request: WireRequest): boolean {
  return request.messages.every((message, index) =>
    message.content
      .filter((block) => block.type === 'tool_result')
      .every(
        (block) =>
          index > 0 &&
          request.messages[index - 1]!.content.some(
            (previous) => previous.type === 'tool_use' && previous.id === block.tool_use_id,
          ),
      ),
  );
}

describe('context compaction', () => {
  it('summarises older turns with the cheaper model once the context passes the threshold, keeping calls and results paired', async () => {
    main.reset();
    cheap.reset();
    main.reply(...[1, 2, 3, 4, 5, 6].map(echoTurn), anthropic.message({ text: 'Done.', usage }));
    cheap.reply(
      ...[1, 2, 3, 4, 5, 6].map((n) =>
        anthropic.message({
          text: `SUMMARY-${n}: echoed the numbers so far.`,
          usage: { input_tokens: 900, output_tokens: 40 },
        }),
      ),
    );
    const { runId, meta } = await host.run({ agent: 'compacting', input: { task: 'Echo six long lines.' } });
    expect(meta.stopReason).toBe('completed');

    const summaries = cheap.requests.map((request) => request.body as WireRequest);
    expect(summaries.length).toBeGreaterThan(0);
    expect(summaries[0]!.system![0]!.text).toContain('You compress the working history of an unattended agent loop');
    expect(JSON.stringify(summaries[0]!.messages)).toContain('[assistant called everything__echo]');

    const calls = main.requests.map((request) => request.body as WireRequest);
    expect(calls).toHaveLength(7);
    expect(calls.every(pairingValid)).toBe(true);
    const last = calls.at(-1)!;
    // The task stays first; the summary follows it; the oldest echoes are gone from the context.
    expect(last.messages[0]!.content.map((block) => block.text)).toEqual([
      'Echo six long lines.',
      expect.stringMatching(/^Summary of the earlier work in this run[\s\S]*SUMMARY-\d/),
    ]);
    expect(JSON.stringify(last)).not.toContain('1'.repeat(1_200));
    expect(JSON.stringify(last)).toContain('6'.repeat(1_200));

    const trace = await host.deps.store.listTrace(runId);
    const compactions = trace.filter((event) => event.kind === 'context_compacted');
    // A small window fills again within a turn or two: each time, the older turns (and the last summary) are summarised again.
    expect(compactions).toHaveLength(summaries.length);
    expect(compactions.every((event) => event.status === 'ok')).toBe(true);
    // Priced at the cheaper model's rates: 900 × $1/M + 40 × $5/M.
    expect(compactions[0]).toMatchObject({
      name: 'claude-cheap',
      status: 'ok',
      inputTokens: 900,
      outputTokens: 40,
      costMicros: 1100,
    });
    expect(compactions[0]!.detail).toMatch(
      /^summarised messages 2–\d+ into ~\d+ tokens: context ~\d+ → ~\d+ tokens \(threshold 2000 of 4000\)$/,
    );
    const modelCost = trace
      .filter((event) => event.kind === 'model_call')
      .reduce((sum, event) => sum + event.costMicros, 0);
    expect(meta.usage.costMicros).toBe(modelCost + 1100 * compactions.length);
  });

  it('stops with a clear reason when compaction fails and the definition says stop', async () => {
    main.reset();
    cheap.reset();
    main.reply(...[1, 2, 3, 4, 5, 6].map(echoTurn), anthropic.message({ text: 'Done.', usage }));
    cheap.reply(anthropic.error(400, 'invalid_request_error', 'model: claude-haiku-4-5 is not available to this key'));
    const { runId, meta } = await host.run({ agent: 'strict', input: {} });
    expect(meta.stopReason).toBe('error');
    expect(meta.stopDetail).toMatch(/^context compaction failed: .*is not available to this key/);
    const event = (await host.deps.store.listTrace(runId)).find((e) => e.kind === 'context_compacted')!;
    expect(event).toMatchObject({ status: 'error', name: 'claude-cheap' });
    expect(event.detail).toContain('the run stops (on_compaction_failure: stop)');
  });

  it('goes on uncompacted when compaction fails and the definition says continue', async () => {
    main.reset();
    cheap.reset();
    main.reply(...[1, 2, 3, 4, 5, 6].map(echoTurn), anthropic.message({ text: 'Done.', usage }));
    cheap.reply(
      ...Array.from({ length: 6 }, () => anthropic.error(400, 'invalid_request_error', 'prompt is malformed')),
    );
    const { runId, meta } = await host.run({ agent: 'compacting', input: {} });
    expect(meta.stopReason).toBe('completed');
    expect(JSON.stringify(main.requests.at(-1)!.body)).toContain('1'.repeat(1_200));
    const failures = (await host.deps.store.listTrace(runId)).filter((e) => e.kind === 'context_compacted');
    expect(failures.length).toBeGreaterThan(0);
    expect(
      failures.every((e) => e.status === 'error' && e.detail!.endsWith('continuing with the context uncompacted')),
    ).toBe(true);
  });

  it('compacts and calls again when the provider refuses the context as too long, instead of failing the run', async () => {
    main.reset();
    cheap.reset();
    main.reply(
      ...[1, 2, 3].map(echoTurn),
      anthropic.error(400, 'invalid_request_error', 'prompt is too long: 212345 tokens > 200000 maximum'),
      anthropic.message({ text: 'Done.', usage }),
    );
    cheap.reply(anthropic.message({ text: 'SUMMARY: echoed 1.', usage: { input_tokens: 500, output_tokens: 20 } }));
    const { runId, meta } = await host.run({ agent: 'reactive', input: {} });
    expect(meta.stopReason).toBe('completed');
    expect(main.requests).toHaveLength(5);
    const retried = main.requests[4]!.body as WireRequest;
    expect(retried.messages[0]!.content.map((block) => block.text)).toEqual([
      expect.any(String),
      expect.stringMatching(/SUMMARY: echoed 1\./),
    ]);
    expect(pairingValid(retried)).toBe(true);
    const event = (await host.deps.store.listTrace(runId)).find((e) => e.kind === 'context_compacted')!;
    expect(event).toMatchObject({ status: 'ok', name: 'claude-cheap', costMicros: 600 });
    expect(event.detail).toMatch(
      /^summarised messages 2–3 into ~\d+ tokens: context ~\d+ → ~\d+ tokens \(the model refused the context as too long\)$/,
    );
  });
});
