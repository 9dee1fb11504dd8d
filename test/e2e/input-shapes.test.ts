import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { startHttpServer, type LocalHttpServer } from '../../cli/http-server.ts';
import { runMetaKey } from '../../adapters/dynamodb/keys.ts';
import { requestRun } from '../../core/run/request-run.ts';
import { githubSignature } from '../../core/policy/webhook-signature.ts';
import { createApi } from '../../functions/http/api/index.ts';
import { testHost } from '../support/local-host.ts';

/**
 * Generated JSON shapes — up to 100,000 levels deep, wide objects, long strings, deep
 * arrays — through every JSON entry of a real local host (the HTTP app over DynamoDB Local,
 * runs executed by the local state machine): `/v1/runs`, signed webhooks (JSON and
 * form-encoded), an MCP server's tool result and a model provider's tool-call arguments.
 * Never a 5xx, never a run without exactly one ending, cancel never a 5xx, and the server
 * still answers after every case. Each case knows from its own parameters whether a run's
 * input limits (depth 32, 1,000 keys an object, 32 KB) take it.
 */

const WEBHOOK_SECRET = 'shapes-webhook-secret-0123456789';
const token = randomBytes(24).toString('base64url');
let org: string;
let host: Awaited<ReturnType<typeof testHost>>;
let server: LocalHttpServer;
let model: FakeOpenAi;

// --- a stand-in for OpenAI's Chat Completions, answering from a per-case plan ---------------

interface ModelRequest {
  messages: Array<{ role: string; content: string | null; tool_call_id?: string }>;
}
type Answer = { text: string } | { toolCall: { name: string; arguments: string } };

interface FakeOpenAi {
  url: string;
  requests: ModelRequest[];
  /** Answers in order; once they are used up, every request is answered "Done." */
  plan(...answers: Answer[]): void;
  close(): Promise<void>;
}

async function fakeOpenAi(): Promise<FakeOpenAi> {
  const requests: ModelRequest[] = [];
  let queue: Answer[] = [];
  const http: Server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    requests.push(JSON.parse(raw) as ModelRequest);
    const answer = queue.shift() ?? { text: 'Done.' };
    const message =
      'text' in answer
        ? { role: 'assistant', content: answer.text }
        : {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: `call_${requests.length}`, type: 'function', function: answer.toolCall }],
          };
    const finish = 'text' in answer ? 'stop' : 'tool_calls';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: `chatcmpl-${requests.length}`,
        object: 'chat.completion',
        created: 1_741_570_283,
        model: 'gpt-4.1-2025-04-14',
        choices: [{ index: 0, message, finish_reason: finish }],
        usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
      }),
    );
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    requests,
    plan(...answers) {
      queue = answers;
    },
    close: () => new Promise((resolve) => http.close(() => resolve())),
  };
}

// --- generated shapes, as JSON text (nothing this deep can be built and stringified) --------

interface Shape {
  what: string;
  text: string;
  /** How deep the text nests (containers). */
  depth: number;
  /** Keys of its widest object. */
  keys: number;
  /** Its longest string. */
  chars: number;
}

const depths = fc.oneof(
  fc.constantFrom(1, 30, 31, 32, 33, 63, 64, 65, 1_000, 4_000, 4_500, 100_000),
  fc.integer({ min: 1, max: 100_000 }),
);
const SHAPES: fc.Arbitrary<Shape> = fc.oneof(
  depths.map((depth) => shapeOf(`arrays ${depth} deep`, '['.repeat(depth) + ']'.repeat(depth), depth, 0, 0)),
  depths.map((depth) => shapeOf(`objects ${depth} deep`, `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`, depth, 1, 1)),
  fc.oneof(fc.constantFrom(1_000, 1_001), fc.integer({ min: 1, max: 5_000 })).map((keys) => {
    const text = `{${Array.from({ length: keys }, (_, i) => `"k${i}":0`).join(',')}}`;
    return shapeOf(`an object of ${keys} keys`, text, 1, keys, `k${keys - 1}`.length);
  }),
  fc
    .oneof(fc.constantFrom(32_750, 32_760, 32_761), fc.integer({ min: 0, max: 100_000 }))
    .map((chars) => shapeOf(`a string of ${chars} characters`, JSON.stringify('x'.repeat(chars)), 0, 0, chars)),
  fc
    .tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 300 }))
    .map(([depth, width, chars]) => {
      const leaf = `[${Array.from({ length: width }, () => JSON.stringify('y'.repeat(chars))).join(',')}]`;
      const text = '['.repeat(depth - 1) + leaf + ']'.repeat(depth - 1);
      return shapeOf(`${width} strings of ${chars} characters, ${depth} arrays deep`, text, depth, 0, chars);
    }),
);

/** A shape, shown in a failure by what it is (its text may be 600 KB). */
function shapeOf(what: string, text: string, depth: number, keys: number, chars: number): Shape {
  return { what, text, depth, keys, chars, [fc.toStringMethod]: () => what } as Shape;
}

/** Wrapped as `{"x": …}`, as a run's input: whether its limits take it. */
function inputFits(shape: Shape): boolean {
  const bytes = Buffer.byteLength(`{"x":${shape.text}}`);
  return shape.depth + 1 <= 32 && shape.keys <= 1_000 && shape.chars <= 32 * 1024 && bytes <= 32 * 1024;
}

const LIMIT_NAMED = /\(max(Depth|ObjectKeys|Entries|StringChars|Bytes) \d+\)|limited to 32768 bytes/;

// --- the host -------------------------------------------------------------------------------

beforeAll(async () => {
  model = await fakeOpenAi();
  org = await mkdtemp(join(tmpdir(), 'looprail-shapes-org-'));
  await cp('test/fixtures/shapes-org', org, { recursive: true });
  await writeFile(
    join(org, 'models.yaml'),
    `models:\n  gpt-local:\n    provider: openai\n    model_id: gpt-4.1\n    base_url: ${model.url}/v1\n    secret: openai-key\n    price: { input_per_mtok: 2, output_per_mtok: 8 }\n`,
  );
  process.env.LOOPRAIL_SECRET_OPENAI_KEY = 'sk-shapes-local-test-key';
  process.env.LOOPRAIL_SECRET_SHAPES_WEBHOOK_SECRET = WEBHOOK_SECRET;
  host = await testHost(org);
  await mkdir(join(host.stateDir, 'shapes'), { recursive: true });
  const api = createApi({ ...host.deps, executions: host.executions, secrets: host.secrets });
  server = await startHttpServer({ app: api.handle, token, user: 'tester' });
});

afterAll(async () => {
  await server?.close();
  await host?.close();
  await model?.close();
  if (org) await rm(org, { recursive: true, force: true });
  delete process.env.LOOPRAIL_SECRET_OPENAI_KEY;
  delete process.env.LOOPRAIL_SECRET_SHAPES_WEBHOOK_SECRET;
});

const auth = () => ({ authorization: `Bearer ${token}` });

function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  return fetch(new URL(path, server.url), {
    method,
    headers: { ...auth(), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body,
  });
}

/** Waits for the run to end; it must end with one stop reason and one ending in its trace. */
async function ended(runId: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = await host.deps.store.getRun(runId);
    if (run && (run.status === 'finished' || run.status === 'failed')) {
      expect(run.stopReason, `run ${runId}`).toBeDefined();
      const trace = await host.deps.store.listTrace(runId);
      expect(trace.filter((event) => event.kind === 'run_finished' || event.kind === 'run_failed')).toHaveLength(1);
      return run;
    }
    if (Date.now() > deadline) throw new Error(`run ${runId} is still ${run?.status} after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** After every case: the server still answers, and cancelling the run is never a 5xx. */
async function stillAnswers(runId?: string) {
  expect((await call('GET', '/v1/runs?limit=1')).status).toBe(200);
  if (runId) expect((await call('POST', `/v1/runs/${runId}/cancel`)).status).toBeLessThan(500);
}

const PROPERTY = { seed: 18, numRuns: 14, endOnFailure: true } as const;

describe('generated JSON shapes at every JSON entry', () => {
  it('POST /v1/runs: a run that ends with one stop reason, or a 400 naming the limit', async () => {
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(SHAPES, async (shape) => {
        const response = await call('POST', '/v1/runs', `{"agent":"shaper","input":{"x":${shape.text}}}`);
        const body = (await response.json()) as { runId?: string; error?: { message: string } };
        expect(response.status, shape.what).toBeLessThan(500);
        if (inputFits(shape)) {
          expect(response.status, `${shape.what}: ${body.error?.message}`).toBe(201);
          expect((await ended(body.runId!)).stopReason).toBe('completed');
          seen.accepted++;
        } else {
          expect(response.status, shape.what).toBe(400);
          expect(body.error!.message, shape.what).toMatch(LIMIT_NAMED);
          seen.refused++;
        }
        await stillAnswers(body.runId);
      }),
      PROPERTY,
    );
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });

  it('signed webhooks, JSON and form-encoded: a run that ends with one stop reason, or a 4xx naming the limit', async () => {
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(SHAPES, fc.boolean(), async (shape, form) => {
        const payload = `{"x":${shape.text}}`;
        const rawBody = form ? new URLSearchParams({ payload }).toString() : payload;
        const response = await fetch(new URL('/webhooks/shaper', server.url), {
          method: 'POST',
          headers: {
            'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json',
            'x-github-event': 'push',
            'x-github-delivery': randomUUID(),
            'x-hub-signature-256': githubSignature(WEBHOOK_SECRET, rawBody),
          },
          body: rawBody,
        });
        const body = (await response.json()) as { runId?: string; reason?: string };
        expect(response.status, shape.what).toBeLessThan(500);
        if (Buffer.byteLength(rawBody) > 1024 * 1024) expect(response.status).toBe(413);
        else if (inputFits(shape)) {
          expect(response.status, `${shape.what}: ${body.reason}`).toBe(202);
          expect((await ended(body.runId!)).stopReason).toBe('completed');
          seen.accepted++;
        } else {
          expect([400, 413], shape.what).toContain(response.status);
          expect(body.reason, shape.what).toMatch(LIMIT_NAMED);
          seen.refused++;
        }
        await stillAnswers(body.runId);
      }),
      PROPERTY,
    );
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });

  it("an MCP server's tool result, as text or structured content: the run goes on and ends with one stop reason", async () => {
    let n = 0;
    let leftOut = 0;
    await fc.assert(
      fc.asyncProperty(SHAPES, fc.constantFrom('text', 'structured'), async (shape, as) => {
        const file = `result-${++n}.json`;
        await writeFile(join(host.stateDir, 'shapes', file), shape.text);
        model.plan({ toolCall: { name: 'shapes__shape', arguments: JSON.stringify({ file, as }) } });
        const before = model.requests.length;
        const response = await call('POST', '/v1/runs', '{"agent":"tooler","input":{}}');
        expect(response.status).toBe(201);
        const { runId } = (await response.json()) as { runId: string };
        expect((await ended(runId)).stopReason, shape.what).toBe('completed');
        // The model was told the result (or why its structured content was left out), then said it was done.
        const told = model.requests
          .slice(before)
          .flatMap((request) => request.messages.filter((m) => m.role === 'tool'));
        expect(told, shape.what).toHaveLength(1);
        if (as === 'structured' && shape.depth + 1 > 32) {
          expect(told[0]!.content).toContain(
            'structured content left out: structuredContent, at structuredContent.value',
          );
          leftOut++;
        }
        await stillAnswers(runId);
      }),
      { ...PROPERTY, numRuns: 10 },
    );
    expect(leftOut).toBeGreaterThan(0);
  });

  it("a model's tool-call arguments: over their limits the call is refused, the model told why, and the run ends", async () => {
    let tooDeep = 0;
    await fc.assert(
      fc.asyncProperty(SHAPES, async (shape) => {
        const args = `{"x":${shape.text}}`;
        model.plan({ toolCall: { name: 'shapes__shape', arguments: args } });
        const before = model.requests.length;
        const response = await call('POST', '/v1/runs', '{"agent":"tooler","input":{}}');
        expect(response.status).toBe(201);
        const { runId } = (await response.json()) as { runId: string };
        expect((await ended(runId)).stopReason, shape.what).toBe('completed');
        const told = model.requests
          .slice(before)
          .flatMap((request) => request.messages.filter((m) => m.role === 'tool'));
        expect(told, shape.what).toHaveLength(1);
        // Never made: the arguments are over a limit, or (within them) not what the tool's schema asks.
        expect(told[0]!.content).toMatch(/^(Error: )?invalid arguments for shapes\.shape, so the call was not made: /);
        if (shape.depth + 1 > 32) {
          expect(told[0]!.content).toContain('nests deeper than 32 levels (maxDepth 32)');
          tooDeep++;
        }
        const trace = await host.deps.store.listTrace(runId);
        expect(trace.filter((event) => event.kind === 'tool_call').map((event) => event.status)).toEqual(['error']);
        await stillAnswers(runId);
      }),
      { ...PROPERTY, numRuns: 8 },
    );
    expect(tooDeep).toBeGreaterThan(0);
  });

  it('a run recorded before the limits with an input 5,000 levels deep: read, cancelled, or ended `error` when started', async () => {
    const legacy = async () => {
      const { runId } = await requestRun(host.deps, {
        agent: 'shaper',
        input: { x: 1 },
        principal: 'tester',
        trigger: { kind: 'api' },
      });
      const { pk, sk } = runMetaKey(runId);
      await host.dynamodb.send(
        new UpdateItemCommand({
          TableName: host.tableName,
          Key: { pk: { S: pk }, sk: { S: sk } },
          UpdateExpression: 'SET #input = :input',
          ExpressionAttributeNames: { '#input': 'input' },
          ExpressionAttributeValues: { ':input': { S: `{"x":${'['.repeat(5_000)}${']'.repeat(5_000)}}` } },
        }),
      );
      return runId;
    };
    const cancelled = await legacy();
    const shown = await call('GET', `/v1/runs/${cancelled}`);
    expect(shown.status).toBe(200);
    expect(((await shown.json()) as { input: Record<string, string> }).input['looprail:input_left_out']).toMatch(
      /^input, at input\.x(\[0\]){31} nests deeper than 32 levels \(maxDepth 32\); it was recorded before runs' inputs were limited$/,
    );
    expect((await call('POST', `/v1/runs/${cancelled}/cancel`)).status).toBe(202);
    expect((await ended(cancelled)).stopReason).toBe('cancelled');

    const started = await legacy();
    const calls = model.requests.length;
    await host.executions.start(started);
    expect(await ended(started)).toMatchObject({
      stopReason: 'error',
      stopDetail: expect.stringMatching(
        /^the run's input cannot be used, so the run was not started: input, at input\.x/,
      ),
    });
    // Ended before any model saw it.
    expect(model.requests.length).toBe(calls);
    await stillAnswers(started);
  });
});
