import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { modelProviders } from '../../adapters/models/index.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { LooprailClient, resolveEndpoint } from '../../cli/client.ts';
import { startDevServer, type DevServer } from '../../cli/commands/dev.ts';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../cli/local/dynamodb-local.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import { periodKey } from '../../core/budgets/periods.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import { anthropic, hang, type FakeModelServer } from '../support/fake-model-servers.ts';
import { testHost } from '../support/local-host.ts';
import { testClient } from '../support/dynamodb.ts';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';

/**
 * Dependencies failing under a run: the model provider (a local server speaking Anthropic's
 * Messages wire format) answering 429s, 5xx or nothing at all; an MCP server process killed
 * in the middle of a call; DynamoDB Local stopped and started again (on disk) under a run;
 * the dev server killed (SIGKILL) with runs in flight and started again. Every case ends
 * with a correct stop reason or a completed run, and nothing recorded is lost: the trace
 * and conversation hold every step once, budgets hold no reservation, and what reached the
 * recording MCP server (test/fixtures/faults-org/counter-server.mjs) is counted there.
 */

// Key-shaped, built at run time so no key-like literal sits in the source.
const KEY = ['sk', 'ant', 'faults', 'TEST', '0'.repeat(36)].join('-');
const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** faults-org plus a model on the fake provider and the agents below. */
async function dependencyOrg(providerUrl: string): Promise<string> {
  const org = await mkdtemp(join(tmpdir(), 'looprail-deps-org-'));
  temps.push(org);
  await cp('test/fixtures/faults-org', org, { recursive: true });
  // The counter server's path is relative to the project, not to the copied org.
  await appendFile(
    join(org, 'secrets.yaml'),
    '  faults-anthropic-key:\n    description: the key of the fake Anthropic server\n',
  );
  await appendFile(
    join(org, 'models.yaml'),
    `  claude-local:\n    provider: anthropic\n    model_id: claude-sonnet-4-5\n    base_url: ${providerUrl}\n    secret: faults-anthropic-key\n    price: { input_per_mtok: 3, output_per_mtok: 15 }\n` +
      '  s-fallback: { provider: scripted, script: scripts/fallback.yaml, price: { input_per_mtok: 1, output_per_mtok: 5 } }\n' +
      '  s-killer: { provider: scripted, script: scripts/killer.yaml, price: { input_per_mtok: 3, output_per_mtok: 15 } }\n' +
      '  s-plain: { provider: scripted, script: scripts/plain.yaml, price: { input_per_mtok: 3, output_per_mtok: 15 } }\n' +
      '  s-slow: { provider: scripted, script: scripts/slow.yaml, price: { input_per_mtok: 3, output_per_mtok: 15 } }\n',
  );
  const agent = (name: string, lines: string) =>
    writeFile(
      join(org, `${name}.yaml`),
      `agent:\n  name: ${name}\n  owner: tests@example.com\n  team: faults\n  instructions: ./instructions.md@v1\n${lines}`,
    );
  await agent('flaky', '  model: claude-local\n');
  await agent('flaky-fallback', '  model: claude-local\n  fallback_model: s-fallback\n');
  await agent('killer', '  model: s-killer\n  mcp_servers: [{ name: counter, allow: [die, die-read, record] }]\n');
  await agent('plain', '  model: s-plain\n  mcp_servers: [{ name: counter, allow: [record, peek] }]\n');
  await agent('slow', '  model: s-slow\n  mcp_servers: [{ name: counter, allow: [peek] }]\n');
  await writeFile(
    join(org, 'scripts/fallback.yaml'),
    'turns:\n  - text: The fallback model answered.\n    usage: { input_tokens: 100, output_tokens: 10 }\n',
  );
  await writeFile(
    join(org, 'scripts/killer.yaml'),
    'turns:\n' +
      '  - text: Two calls whose server dies under them.\n    tool_calls:\n      - { tool: counter__die, arguments: { key: w } }\n    usage: { input_tokens: 500, output_tokens: 50 }\n' +
      '  - text: A read whose server dies under it.\n    tool_calls:\n      - { tool: counter__die-read, arguments: { key: r } }\n    usage: { input_tokens: 600, output_tokens: 50 }\n' +
      '  - text: And a write on the restarted server.\n    tool_calls:\n      - { tool: counter__record, arguments: { key: after } }\n    usage: { input_tokens: 700, output_tokens: 50 }\n' +
      '  - text: Done.\n    usage: { input_tokens: 800, output_tokens: 5 }\n',
  );
  await writeFile(
    join(org, 'scripts/plain.yaml'),
    'turns:\n  - text: A write and a read.\n    tool_calls:\n      - { tool: counter__record, arguments: { key: once } }\n      - { tool: counter__peek, arguments: { key: once } }\n    usage: { input_tokens: 500, output_tokens: 50 }\n' +
      '  - text: Done.\n    usage: { input_tokens: 600, output_tokens: 5 }\n',
  );
  // Slow turns keep runs in flight long enough to kill the server under them.
  const slowTurn = (n: number) =>
    `  - text: Step ${n}.\n    delay_ms: 300\n    tool_calls: [{ tool: counter__peek, arguments: { key: s${n} } }]\n    usage: { input_tokens: ${100 + n}, output_tokens: 10 }\n`;
  await writeFile(
    join(org, 'scripts/slow.yaml'),
    `turns:\n${[1, 2, 3, 4, 5, 6].map(slowTurn).join('')}  - text: Done slowly.\n    usage: { input_tokens: 200, output_tokens: 5 }\n`,
  );
  return org;
}

async function serverCalls(stateDir: string): Promise<Array<{ tool: string; key: string; pid: number }>> {
  const text = await readFile(join(stateDir, 'counter.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { tool: string; key: string; pid: number });
}

async function reserved(store: RunStore) {
  const usage = await store.getBudgetUsage('team', 'faults', periodKey('day', new Date()));
  return {
    micros: usage.usedMicros - usage.spentMicros,
    tokens: usage.usedTokens - usage.spentTokens,
    spentMicros: usage.spentMicros,
  };
}

/** Seq numbers are 0..n-1 with none missing or repeated. */
function contiguous(items: Array<{ seq: number }>): boolean {
  return items.every((item, index) => item.seq === index);
}

let provider: FakeModelServer;
let org: string;
beforeAll(async () => {
  provider = await anthropic.start();
  org = await dependencyOrg(provider.url);
  process.env.LOOPRAIL_SECRET_FAULTS_ANTHROPIC_KEY = KEY;
});
afterAll(async () => {
  await provider?.close();
  delete process.env.LOOPRAIL_SECRET_FAULTS_ANTHROPIC_KEY;
});

describe('the model provider failing', () => {
  let host: LocalHost;
  beforeAll(async () => {
    // The adapter's own settings, short: one attempt per step of 300 ms, so the state machine's
    // retries (and the fallback) are what carries the run, without real backoff waits.
    host = await testHost(org, {
      wrapDeps: (deps) => ({
        ...deps,
        providers: modelProviders({
          secrets: new LocalSecretStore({ env: process.env }),
          timeoutMs: 300,
          maxAttempts: 1,
          sleep: async () => {},
        }),
      }),
    });
  });
  afterAll(async () => {
    await host?.close();
  });

  const overloaded = () =>
    anthropic.error(429, 'rate_limit_error', 'Number of requests has exceeded your rate limit', { 'retry-after': '0' });

  it('a 429 storm that outlasts every retry stops model_unavailable, with nothing charged or held', async () => {
    provider.reset();
    provider.reply(...Array.from({ length: 20 }, overloaded));
    const before = await reserved(host.deps.store);
    const { meta, runId } = await host.run({ agent: 'flaky', input: {} });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'model_unavailable', modelCalls: 0 });
    expect(meta.stopDetail).toMatch(/HTTP 429.*rate limit/);
    // The first try and the state machine's 5 retries, one request each.
    expect(provider.requests.length).toBe(6);
    const trace = await host.deps.store.listTrace(runId);
    expect(trace.map((e) => e.kind)).toEqual(['run_started', 'run_finished']);
    expect(await reserved(host.deps.store)).toEqual(before);
    expect(JSON.stringify(trace)).not.toContain(KEY);
  });

  it('5xx answers that pass: the run completes, with the one answered call charged once', async () => {
    provider.reset();
    provider.reply(
      anthropic.error(503, 'api_error', 'Service Unavailable'),
      anthropic.error(529, 'overloaded_error', 'Overloaded'),
      anthropic.message({ text: 'Done after the outage.', usage: { input_tokens: 1000, output_tokens: 20 } }),
    );
    const before = await reserved(host.deps.store);
    const { meta, runId } = await host.run({ agent: 'flaky', input: {} });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 1 });
    expect(provider.requests.length).toBe(3);
    const trace = await host.deps.store.listTrace(runId);
    expect(
      trace.filter((e) => e.kind === 'model_call').map((e) => [e.inputTokens, e.outputTokens, e.costMicros]),
    ).toEqual([[1000, 20, 1000 * 3 + 20 * 15]]);
    const after = await reserved(host.deps.store);
    expect(after.micros).toBe(before.micros);
    expect(after.spentMicros - before.spentMicros).toBe(1000 * 3 + 20 * 15);
  });

  it('a provider that hangs past the call timeout stops model_unavailable, naming the timeout', async () => {
    provider.reset();
    provider.reply(...Array.from({ length: 6 }, hang));
    const before = await reserved(host.deps.store);
    const { meta } = await host.run({ agent: 'flaky', input: {} });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'model_unavailable' });
    expect(meta.stopDetail).toMatch(/no answer within 0\.3 s/);
    expect(provider.requests.length).toBe(6);
    expect(await reserved(host.deps.store)).toEqual(before);
  });

  it('with a fallback model declared, a hanging provider moves the run to the fallback, which completes it', async () => {
    provider.reset();
    provider.reply(hang());
    const { meta, runId } = await host.run({ agent: 'flaky-fallback', input: {} });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 1 });
    const [call] = (await host.deps.store.listTrace(runId)).filter((e) => e.kind === 'model_call');
    expect(call).toMatchObject({ name: 's-fallback', fallback: true, inputTokens: 100, outputTokens: 10 });
    expect(call!.detail).toMatch(/^fallback: claude-local unavailable \(.*no answer within 0\.3 s/);
    expect(provider.requests.length).toBe(1);
  });
});

describe('an MCP server killed in the middle of a call', () => {
  it('reports the interrupted write to the model as possibly done (never repeated), retries the read on a restarted server, and completes', async () => {
    const host = await testHost(org);
    try {
      const { meta, runId, outcome } = await host.run({ agent: 'killer', input: {} });
      expect(outcome?.status).toBe('SUCCEEDED');
      expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 4 });
      const calls = await serverCalls(host.stateDir);
      // The write reached the server once and was not repeated; the read was retried on a new process.
      expect(calls.map((c) => `${c.tool} ${c.key}`)).toEqual(['die w', 'die-read r', 'die-read r', 'record after']);
      const pids = calls.map((c) => c.pid);
      expect(new Set(pids).size).toBe(3);
      expect(pids[2]).toBe(pids[3]);

      const trace = await host.deps.store.listTrace(runId);
      expect(contiguous(trace)).toBe(true);
      const tools = trace.filter((e) => e.kind === 'tool_call');
      expect(tools.map((e) => [e.name, e.status, e.attempt])).toEqual([
        ['counter.die', 'error', 1],
        ['counter.die-read', 'ok', 2],
        ['counter.record', 'ok', 1],
      ]);
      expect(tools[0]!.detail).toMatch(
        /^the tool's server failed during the call; it may or may not have acted: MCP server "counter" is unavailable \(die\)/,
      );
      const state = await host.deps.store.loadState(runId);
      const results = state!.messages.filter((m) => m.role === 'tool').flatMap((m) => m.content);
      expect(results.map((b) => (b.type === 'tool_result' ? [b.content.split(':')[0], b.isError] : null))).toEqual([
        ["the tool's server failed during the call; it may or may not have acted", true],
        ['read r', false],
        ['recorded after', false],
      ]);
    } finally {
      await host.close();
    }
  });
});

describe('DynamoDB Local stopped and started again under a run', () => {
  it('the step that met the outage is retried once the table is back, on disk; the run completes with every step once and the side effect made once', async () => {
    const dbPath = await mkdtemp(join(tmpdir(), 'looprail-deps-db-'));
    temps.push(dbPath);
    let dynamo: DynamoDbLocal = await startDynamoDbLocal({ dbPath, startTimeoutMs: 90_000 });
    const port = dynamo.port;
    let down = false;
    let outages = 0;
    let recorded = false;
    const steps: string[] = [];
    const host = await testHost(org, {
      dynamodbEndpoint: dynamo.endpoint,
      wrapDeps: (deps) => ({
        ...deps,
        store: new Proxy(deps.store, {
          get(target, property, receiver) {
            const original = Reflect.get(target, property, receiver) as (...args: unknown[]) => Promise<unknown>;
            if (property === 'completeSideEffect')
              return async (...args: unknown[]) => {
                const result = await original.apply(target, args);
                recorded = true;
                return result;
              };
            if (property !== 'commit') return original;
            return async (...args: unknown[]) => {
              // The commit after the side effect's outcome was recorded: the table goes away.
              if (recorded && outages === 0) {
                outages += 1;
                down = true;
                await dynamo.stop();
              }
              return original.apply(target, args);
            };
          },
        }),
      }),
      wrapHandlers: (handlers) =>
        Object.fromEntries(
          Object.entries(handlers).map(([name, handler]) => [
            name,
            async (payload: unknown) => {
              steps.push(name);
              // The state machine's retry: by now the table is back, on the same port and files.
              if (down) {
                dynamo = await startDynamoDbLocal({ dbPath, port, startTimeoutMs: 90_000 });
                down = false;
              }
              return handler(payload);
            },
          ]),
        ) as typeof handlers,
    });
    try {
      const { meta, runId, outcome } = await host.run({ agent: 'plain', input: {} });
      expect(outages).toBe(1);
      // The ModelStep committed the turn, made its calls and met the outage at its second commit;
      // retried, it replays the turn's commit, and the ToolStep makes the calls on that record.
      expect(steps).toEqual(['StartRun', 'ModelStep', 'ModelStep', 'ToolStep', 'ModelStep', 'FinishRun']);
      expect(outcome?.status).toBe('SUCCEEDED');
      expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 2, toolCalls: 2 });
      const trace = await host.deps.store.listTrace(runId);
      expect(contiguous(trace)).toBe(true);
      expect(trace.map((e) => e.kind)).toEqual([
        'run_started',
        'model_call',
        'tool_call',
        'tool_call',
        'model_call',
        'run_finished',
      ]);
      const state = await host.deps.store.loadState(runId);
      expect(state!.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
      // The write reached the server once; the retry reused its recorded outcome. The read was made again.
      expect((await serverCalls(host.stateDir)).map((c) => `${c.tool} ${c.key}`).sort()).toEqual([
        'peek once',
        'peek once',
        'record once',
      ]);
    } finally {
      await host.close();
      await dynamo.stop();
    }
  }, 180_000);
});

describe('the dev server killed with runs in flight', () => {
  let child: ChildProcess | undefined;
  let dev: DevServer | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await dev?.close();
  });

  it('resumes them at the next start, each from its last committed step, and they complete with every step once', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'looprail-deps-dev-'));
    temps.push(stateDir);
    const dynamodbEndpoint = inject('dynamodbEndpoint');
    const tableName = `looprail-faults-dev-${randomUUID()}`;
    child = spawn(
      process.execPath,
      ['test/fixtures/faults-org/dev-server-child.ts', org, stateDir, dynamodbEndpoint, tableName],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const stderr: string[] = [];
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const [line] = (await Promise.race([
      once(createInterface({ input: child.stdout! }), 'line'),
      once(child, 'exit').then(() => [undefined]),
    ])) as [string | undefined];
    expect(line, stderr.join('')).toBeDefined();

    let client = new LooprailClient(await resolveEndpoint({ stateDir }));
    const runIds = await Promise.all([1, 2, 3].map(async () => (await client.startRun({ agent: 'slow' })).run.runId));
    // In flight: every run has committed at least its first step (and none can have finished).
    for (let i = 0; ; i++) {
      const runs = await Promise.all(runIds.map((runId) => client.getRun(runId)));
      if (runs.every((run) => run.status === 'running' && run.modelCalls >= 1)) break;
      if (i > 2000)
        throw new Error(`runs never got going: ${runs.map((r) => `${r.status}@${r.modelCalls}`).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    child.kill('SIGKILL');
    await once(child, 'exit');
    // Killed mid-run: none had ended (read from the table, before anything could resume them).
    const table = testClient();
    const store = new DynamoRunStore({ client: table, tableName });
    const left = await Promise.all(runIds.map((runId) => store.getRun(runId)));
    table.destroy();
    expect(left.map((run) => run?.status)).toEqual(['running', 'running', 'running']);

    dev = await startDevServer(
      { port: '0', org, stateDir, graceMs: 50, host: { dynamodbEndpoint, tableName, retryIntervalMs: 0 } },
      { out: () => {}, err: () => {} },
    );
    client = new LooprailClient(await resolveEndpoint({ stateDir }));
    // The restarted server picked every one of them up.
    expect([...dev.resumed].sort()).toEqual([...runIds].sort());

    for (const runId of runIds) {
      let run = await client.getRun(runId);
      for (let i = 0; run.status !== 'finished' && run.status !== 'failed'; i++) {
        if (i > 3000) throw new Error(`run ${runId} is still ${run.status}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
        run = await client.getRun(runId);
      }
      expect(run, run.stopDetail).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 7 });
      const trace = (await client.getTrace(runId)).events;
      expect(contiguous(trace), runId).toBe(true);
      expect(trace.filter((e) => e.kind === 'model_call').map((e) => e.inputTokens)).toEqual([
        101, 102, 103, 104, 105, 106, 200,
      ]);
      expect(trace.filter((e) => e.kind === 'run_started')).toHaveLength(1);
    }
    // Every read a run's model asked for reached the server (a read cut off by the kill may have been made twice).
    const calls = await serverCalls(stateDir);
    for (const key of ['s1', 's2', 's3', 's4', 's5', 's6'])
      expect(calls.filter((c) => c.key === key).length).toBeGreaterThanOrEqual(3);
  }, 180_000);
});
