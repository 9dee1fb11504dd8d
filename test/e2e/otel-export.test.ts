import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpConfigFromEnv, parseHeaders } from '../../adapters/otel/otlp-config.ts';
import { OTLP_EXPORT } from '../../functions/_shared/telemetry-export.ts';
import { traceIdOf } from '../../adapters/otel/spans.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { runToEnd, testHost } from '../support/local-host.ts';

/**
 * Runs exported as OpenTelemetry traces (OTLP/HTTP, JSON) to a local receiver on
 * 127.0.0.1 that parses what it is sent, as a collector would.
 */

/** The ExportTraceServiceRequest of OTLP/HTTP as JSON, as far as these tests read it. */
interface KeyValue {
  key: string;
  value: { stringValue: string } | { intValue: number | string } | { doubleValue: number } | { boolValue: boolean };
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  status: { code?: number; message?: string };
}

interface OtlpTraceRequest {
  resourceSpans: Array<{
    resource: { attributes: KeyValue[] };
    scopeSpans: Array<{ scope: { name: string; version?: string }; spans: OtlpSpan[] }>;
  }>;
}

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: OtlpTraceRequest;
}

let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];
let failNext = 0;
/** 400: a refusal the exporter does not retry; 503: one it retries within the timeout. */
let failWith = 400;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (failNext > 0) {
        failNext -= 1;
        res.writeHead(failWith).end();
        return;
      }
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraceRequest,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
});

function attrs(list: KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => [key, Object.values(value)[0]]));
}

describe('OTLP configuration', () => {
  it('takes the standard variables, and names the one that is wrong', () => {
    expect(otlpConfigFromEnv({})).toBeUndefined();
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' })).toMatchObject({
      url: 'http://127.0.0.1:4318/v1/traces',
      serviceName: 'looprail',
      timeoutMs: 5000,
    });
    expect(
      otlpConfigFromEnv({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://otel.example/custom',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored',
        OTEL_SERVICE_NAME: 'loops',
      }),
    ).toMatchObject({ url: 'https://otel.example/custom', serviceName: 'loops' });
    expect(() => otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(ConfigurationError);
    expect(() => otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT: expected an http\(s\) URL/,
    );
    expect(() => otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', LOOPRAIL_OTLP_TIMEOUT_MS: '5' })).toThrow(
      /LOOPRAIL_OTLP_TIMEOUT_MS/,
    );
    expect(parseHeaders('x-api-key=abc%20def, authorization=Basic xyz')).toEqual({
      'x-api-key': 'abc def',
      authorization: 'Basic xyz',
    });
    expect(() => parseHeaders('no equals sign')).toThrow(/name=value pairs/);
  });
});

describe('exporting runs', () => {
  let host: Awaited<ReturnType<typeof testHost>>;
  const logLines: string[] = [];
  // Key-shaped, built at run time: the collector's credential, read from a secret by name.
  const apiKey = ['otlp', 'key', 'Zx81Qw'].join('-');

  beforeAll(async () => {
    const secrets = {
      get: async (name: string) =>
        name === 'otlp-headers' ? `x-api-key=${apiKey}` : Promise.reject(new Error(`no secret ${name}`)),
    };
    // As FinishRun and FailRun compose it on Lambda: the exporter loaded at the first export.
    const telemetry = OTLP_EXPORT(
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, LOOPRAIL_OTLP_HEADERS_SECRET_NAME: 'otlp-headers' },
      () => secrets,
    );
    host = await testHost('test/fixtures/loop-org', {
      telemetry,
      log: jsonLogger('info', (line) => logLines.push(line)),
    });
  });

  afterAll(async () => {
    await host?.close();
  });

  it('sends one trace per run: the run, a span per step, the checker run nested, GenAI attributes on model and tool calls', async () => {
    const run = await runToEnd(host, 'basic', { ask: 'note it' });
    expect(run.meta.stopReason).toBe('verified');
    const mine = received.filter((request) =>
      request.body.resourceSpans[0]!.scopeSpans[0]!.spans.some(
        (span) => attrs(span.attributes)['looprail.run.id'] === run.runId,
      ),
    );
    // One export per maker run: the checker runs are inside it, not exported on their own.
    expect(mine).toHaveLength(1);
    const request = mine[0]!;
    expect(request.path).toBe('/v1/traces');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-api-key']).toBe(apiKey);
    expect(attrs(request.body.resourceSpans[0]!.resource.attributes)).toMatchObject({ 'service.name': 'looprail' });
    const spans = request.body.resourceSpans[0]!.scopeSpans[0]!.spans;
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([traceIdOf(run.runId)]));
    expect(spans.every((span) => /^[0-9a-f]{32}$/.test(span.traceId) && /^[0-9a-f]{16}$/.test(span.spanId))).toBe(true);
    expect(new Set(spans.map((span) => span.spanId)).size).toBe(spans.length);

    const root = spans.find((span) => !span.parentSpanId)!;
    expect(root.name).toBe('invoke_agent basic');
    expect(attrs(root.attributes)).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'basic',
      'gen_ai.conversation.id': run.runId,
      'looprail.stop_reason': 'verified',
    });
    const direct = spans.filter((span) => span.parentSpanId === root.spanId);
    // A span per step of the maker's own trace.
    expect(direct).toHaveLength(run.trace.length);

    const models = direct.filter((span) => attrs(span.attributes)['gen_ai.operation.name'] === 'chat');
    const makerModelCalls = run.trace.filter((event) => event.kind === 'model_call');
    expect(models).toHaveLength(makerModelCalls.length);
    expect(models[0]!.name).toBe('chat s-basic');
    expect(models[0]!.kind).toBe(3);
    expect(attrs(models[0]!.attributes)).toMatchObject({
      'gen_ai.request.model': 's-basic',
      'gen_ai.provider.name': 'scripted',
      'gen_ai.system': 'scripted',
      'gen_ai.usage.input_tokens': makerModelCalls[0]!.inputTokens,
      'gen_ai.usage.output_tokens': makerModelCalls[0]!.outputTokens,
    });
    const tools = direct.filter((span) => attrs(span.attributes)['gen_ai.operation.name'] === 'execute_tool');
    expect(tools.map((span) => span.name)).toContain('execute_tool notes.create_entities');
    expect(attrs(tools[0]!.attributes)['gen_ai.tool.call.id']).toEqual(expect.any(String));
    for (const span of spans) expect(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano)).toBe(true);

    // The checker runs sit under their verification steps, with their own model calls.
    const verifications = direct.filter((span) => attrs(span.attributes)['looprail.step.kind'] === 'verification');
    expect(verifications).toHaveLength(2);
    for (const verification of verifications) {
      const checker = spans.find((span) => span.parentSpanId === verification.spanId)!;
      expect(checker.name).toBe('invoke_agent reviewer');
      const checkerSteps = spans.filter((span) => span.parentSpanId === checker.spanId);
      expect(checkerSteps.some((span) => span.name === 'chat s-basic-checker')).toBe(true);
    }
    // Ids, names and counts: no message text, arguments or results leave the runtime.
    const sent = JSON.stringify(request.body);
    expect(sent).not.toContain('Writing the note.');
    expect(sent).not.toContain('"first"');
  });

  it('never fails a run when the collector is down: the run ends as it would, and a warning names it', async () => {
    failNext = 1;
    // `short` fails for good (its script runs out), so this is FailRun's export: same outcome as without telemetry.
    const run = await runToEnd(host, 'short');
    expect(run.meta).toMatchObject({ status: 'failed', stopReason: 'error' });
    const warning = logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.message === 'could not export the run to telemetry');
    expect(warning).toMatchObject({
      level: 'warn',
      runId: run.runId,
      step: 'FailRun',
      error: expect.stringMatching(/answered 400/),
    });
    // The next run's export goes through, with its error status on the root span.
    const next = await runToEnd(host, 'short');
    const spans = received
      .flatMap((request) => request.body.resourceSpans[0]!.scopeSpans[0]!.spans)
      .filter((span) => attrs(span.attributes)['looprail.run.id'] === next.runId);
    const root = spans.find((span) => !span.parentSpanId)!;
    expect(root.status).toEqual({ code: 2, message: expect.stringContaining('has 1 turns; call 2 has none') });
    expect(spans.find((span) => attrs(span.attributes)['looprail.step.kind'] === 'run_failed')!.status.code).toBe(2);
  });

  it('sends again after a 503 (the exporter retries it), so the run is exported without a warning', async () => {
    failNext = 1;
    failWith = 503;
    try {
      const run = await runToEnd(host, 'short');
      const exported = received.some((request) =>
        request.body.resourceSpans[0]!.scopeSpans[0]!.spans.some(
          (span) => attrs(span.attributes)['looprail.run.id'] === run.runId,
        ),
      );
      expect([failNext, exported]).toEqual([0, true]);
      const warnings = logLines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.runId === run.runId && line.message === 'could not export the run to telemetry');
      expect(warnings).toEqual([]);
    } finally {
      failWith = 400;
    }
  });
});
