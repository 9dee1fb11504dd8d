import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../adapters/events/eventbridge.ts';
import { LocalEventLog, type LoggedEvent } from '../../adapters/events/local-log.ts';
import type { RuntimeEvent } from '../../core/ports/events.ts';
import { publish, type RunDeps } from '../../core/run/deps.ts';
import { silentLogger } from '../../core/ports/logger.ts';

const started: RuntimeEvent = {
  type: 'looprail.run.started',
  runId: 'r-1',
  agent: 'triage',
  detail: { trigger: 'webhook', principal: 'webhook:triage' },
};
const finished: RuntimeEvent = {
  type: 'looprail.run.finished',
  runId: 'r-1',
  agent: 'triage',
  detail: { stopReason: 'verified' },
};

/**
 * The real SDK client against a small 127.0.0.1 endpoint that speaks EventBridge's JSON
 * protocol (awsJson1_1, `X-Amz-Target: AWSEvents.PutEvents`).
 */
describe('EventBridgePublisher', () => {
  const received: Array<{
    target: string | undefined;
    contentType: string | undefined;
    body: { Entries: Array<Record<string, unknown>> };
  }> = [];
  let answer: (entries: Array<Record<string, unknown>>) => { status: number; payload: unknown } = (entries) => ({
    status: 200,
    payload: { FailedEntryCount: 0, Entries: entries.map((_, index) => ({ EventId: `e-${index}` })) },
  });
  let server: Server;
  let client: EventBridgeClient;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      let text = '';
      for await (const chunk of req) text += chunk;
      const body = JSON.parse(text) as { Entries: Array<Record<string, unknown>> };
      received.push({
        target: req.headers['x-amz-target'] as string | undefined,
        contentType: req.headers['content-type'],
        body,
      });
      const { status, payload } = answer(body.Entries);
      res
        .writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'test' })
        .end(JSON.stringify(payload));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    client = new EventBridgeClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client.destroy();
    server.close();
    await once(server, 'close');
  });

  beforeEach(() => {
    received.length = 0;
  });

  it('puts one entry: source looprail, detail-type the event type, detail with the run id and agent', async () => {
    await new EventBridgePublisher({ client }).publish(started);
    expect(received).toHaveLength(1);
    expect(received[0]!.target).toBe('AWSEvents.PutEvents');
    expect(received[0]!.contentType).toBe('application/x-amz-json-1.1');
    expect(received[0]!.body.Entries).toEqual([
      {
        Source: 'looprail',
        DetailType: 'looprail.run.started',
        Detail: JSON.stringify({ runId: 'r-1', agent: 'triage', trigger: 'webhook', principal: 'webhook:triage' }),
        Resources: [],
      },
    ]);
  });

  it('names the bus when given one', async () => {
    await new EventBridgePublisher({ client, eventBusName: 'team-bus' }).publish(finished);
    expect(received[0]!.body.Entries[0]).toMatchObject({
      EventBusName: 'team-bus',
      DetailType: 'looprail.run.finished',
    });
  });

  it('throws when EventBridge refuses the entry (PutEvents answers 200 with a failed entry)', async () => {
    const previous = answer;
    answer = () => ({
      status: 200,
      payload: { FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] },
    });
    try {
      await expect(new EventBridgePublisher({ client }).publish(started)).rejects.toThrow(
        'EventBridge refused looprail.run.started for run r-1: InternalFailure (try again)',
      );
    } finally {
      answer = previous;
    }
  });

  it('throws on a service error, and the core logs it without failing the step', async () => {
    const previous = answer;
    answer = () => ({ status: 400, payload: { __type: 'AccessDeniedException', message: 'not allowed' } });
    try {
      const publisher = new EventBridgePublisher({ client });
      await expect(publisher.publish(started)).rejects.toThrow(/not allowed/);
      const warnings: unknown[] = [];
      const deps = {
        events: publisher,
        log: {
          ...silentLogger,
          warn: (message: string, fields?: Record<string, unknown>) => warnings.push({ message, ...fields }),
        },
      } as unknown as RunDeps;
      await expect(publish(deps, started)).resolves.toBeUndefined();
      expect(warnings).toEqual([
        expect.objectContaining({
          message: 'could not publish a runtime event',
          type: 'looprail.run.started',
          runId: 'r-1',
        }),
      ]);
    } finally {
      answer = previous;
    }
  });
});

describe('LocalEventLog', () => {
  let stateDir: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'looprail-events-'));
  });

  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('appends one JSON line per event to <stateDir>/events.jsonl, creating the folder', async () => {
    const dir = join(stateDir, 'nested', 'state');
    const log = new LocalEventLog({ stateDir: dir, clock: { now: () => new Date('2025-06-01T12:00:00Z') } });
    await log.publish(started);
    await log.publish(finished);
    expect(log.file).toBe(join(dir, 'events.jsonl'));
    const lines = (await readFile(log.file, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as LoggedEvent);
    expect(lines).toEqual([
      {
        source: 'looprail',
        'detail-type': 'looprail.run.started',
        time: '2025-06-01T12:00:00.000Z',
        detail: { runId: 'r-1', agent: 'triage', trigger: 'webhook', principal: 'webhook:triage' },
      },
      {
        source: 'looprail',
        'detail-type': 'looprail.run.finished',
        time: '2025-06-01T12:00:00.000Z',
        detail: { runId: 'r-1', agent: 'triage', stopReason: 'verified' },
      },
    ]);
  });

  it('keeps concurrent publishes whole and in order', async () => {
    const log = new LocalEventLog({ stateDir });
    await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        log.publish({ ...started, runId: `r-${index}`, detail: { padding: 'x'.repeat(10_000) } }),
      ),
    );
    const lines = (await readFile(log.file, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as LoggedEvent);
    expect(lines.map((line) => line.detail.runId)).toEqual(Array.from({ length: 50 }, (_, index) => `r-${index}`));
  });

  it('fails the publish whose append fails, and not the ones after it', async () => {
    const dir = join(stateDir, 'blocked');
    await writeFile(dir, 'a file where the folder should be');
    const log = new LocalEventLog({ stateDir: dir });
    await expect(log.publish(started)).rejects.toThrow();
    await rm(dir);
    await log.publish(finished);
    const lines = (await readFile(log.file, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as LoggedEvent);
    expect(lines.map((line) => line['detail-type'])).toEqual(['looprail.run.finished']);
  });
});
