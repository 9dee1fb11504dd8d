import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalTable, runSuite } from '../../cli/commands/eval.ts';
import { openLocalState } from '../../cli/local/host.ts';
import { type FakeModelServer, openai } from '../support/fake-model-servers.ts';

/**
 * `looprail eval --live`: written cases against the real model their agent names — here a
 * local server speaking OpenAI's Chat Completions on 127.0.0.1, reached with the key from the
 * secrets — instead of their scripted turns. Each case is a real run in the state folder:
 * traced, priced at the model's price, and stopped by the agent's budget like any other run.
 */

const KEY = ['sk', 'proj', 'looprailEVALkey'.padEnd(48, '0')].join('-');
let server: FakeModelServer;
let dir: string;
const org = () => join(dir, 'org');
const state = () => join(dir, 'state');

beforeAll(async () => {
  server = await openai.start();
  dir = await mkdtemp(join(tmpdir(), 'looprail-eval-live-'));
  await cp('test/fixtures/loop-org/mcp-servers/everything.yaml', join(org(), 'mcp-servers/everything.yaml'));
  await writeFile(join(org(), 'secrets.yaml'), 'secrets:\n  openai-key: { description: the local test key }\n');
  await writeFile(
    join(org(), 'models.yaml'),
    `models:\n  gpt-local:\n    provider: openai\n    model_id: gpt-4.1\n    base_url: ${server.url}/v1\n    secret: openai-key\n    price: { input_per_mtok: 2, output_per_mtok: 8 }\n`,
  );
  await writeFile(join(org(), 'instructions.md'), 'Say hello through the echo tool.\n');
  const agent = (name: string, maxCost: number) =>
    writeFile(
      join(org(), `${name}.yaml`),
      `agent:\n  name: ${name}\n  owner: tests@example.com\n  model: gpt-local\n  instructions: ./instructions.md@v1\n  mcp_servers: [everything]\n  harness: { max_cost_usd: ${maxCost} }\n`,
    );
  await agent('greeter', 1);
  await agent('thrifty', 0.1);
  await writeFile(
    join(dir, 'suite.yaml'),
    `cases:
  - name: says hello through echo
    agent: greeter
    expect: { stop_reason: completed, calls: [everything.echo], max_cost_usd: 0.01 }
  - name: stays within its budget
    agent: thrifty
    expect: { stop_reason: completed }
`,
  );
  process.env.LOOPRAIL_SECRET_OPENAI_KEY = KEY;
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
  delete process.env.LOOPRAIL_SECRET_OPENAI_KEY;
});

describe('looprail eval --live', { timeout: 240_000 }, () => {
  it('without --live, a case with no turns fails saying it runs only live, and no model is called', async () => {
    const results = await runSuite({ suiteFile: join(dir, 'suite.yaml'), orgDir: org(), stateDir: state() });
    expect(results.map((result) => [result.name, result.passed, result.detail])).toEqual([
      ['says hello through echo', false, 'no turns to play as the model: this case runs only with --live'],
      ['stays within its budget', false, 'no turns to play as the model: this case runs only with --live'],
    ]);
    expect(server.requests).toEqual([]);
  });

  it('runs each case against the real model: kept in the state folder, traced, priced and budgeted', async () => {
    server.reply(
      // greeter: a tool call, then the answer.
      openai.completion({
        toolCalls: [{ id: 'call_1', name: 'everything__echo', arguments: '{"message":"hello"}' }],
        usage: { prompt_tokens: 1000, completion_tokens: 20 },
      }),
      openai.completion({ text: 'Said hello.', usage: { prompt_tokens: 1100, completion_tokens: 5 } }),
      // thrifty: one call that costs $0.20 against a $0.10 ceiling.
      openai.completion({
        toolCalls: [{ id: 'call_2', name: 'everything__echo', arguments: '{"message":"hi"}' }],
        usage: { prompt_tokens: 100_000, completion_tokens: 0 },
      }),
    );
    const results = await runSuite({
      suiteFile: join(dir, 'suite.yaml'),
      orgDir: org(),
      stateDir: state(),
      live: true,
    });
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${KEY}`,
      `Bearer ${KEY}`,
      `Bearer ${KEY}`,
    ]);
    const [greeter, thrifty] = results;
    // 1000 + 1100 input tokens at $2/M and 25 output tokens at $8/M.
    expect(greeter).toMatchObject({ kind: 'live', passed: true, costMicros: 4_400, detail: 'stopped completed' });
    expect(thrifty).toMatchObject({ kind: 'live', passed: false, costMicros: 200_000 });
    expect(thrifty!.detail).toMatch(/^stopped budget_exhausted .*expected completed$/);
    expect(evalTable(results)).toContain(`(run ${greeter!.runId})`);

    // Real runs: in the state folder with their trace, as `looprail runs` and `trace` read them.
    const local = await openLocalState({ stateDir: state() });
    try {
      const meta = await local.store.getRun(greeter!.runId!);
      expect(meta).toMatchObject({ agent: 'greeter', principal: 'eval', status: 'finished', stopReason: 'completed' });
      const trace = await local.store.listTrace(greeter!.runId!);
      expect(trace.filter((event) => event.kind === 'model_call').map((event) => event.inputTokens)).toEqual([
        1000, 1100,
      ]);
      expect(trace.some((event) => event.kind === 'tool_call' && event.name === 'everything.echo')).toBe(true);
      expect(JSON.stringify(trace)).not.toContain(KEY);
      expect(await local.store.getRun(thrifty!.runId!)).toMatchObject({ stopReason: 'budget_exhausted' });
    } finally {
      await local.close();
    }
  });
});
