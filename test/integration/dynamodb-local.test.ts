import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable } from '../../adapters/dynamodb/table.ts';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { newRunMeta } from '../../core/run/request-run.ts';
import { parseJavaMajor, startDynamoDbLocal, type DynamoDbLocal } from '../../cli/local/dynamodb-local.ts';

function clientFor(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

const meta: RunMeta = newRunMeta({
  runId: 'run-on-disk',
  agent: 'morning-triage',
  principal: 'user:ops@example.com',
  trigger: { kind: 'cli' },
  input: { repo: 'acme/shop' },
  createdAt: '2026-01-05T08:00:00.000Z',
});

/** True when something accepts TCP connections on host:port. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

describe('startDynamoDbLocal', () => {
  let dbPath: string;
  let running: DynamoDbLocal | undefined;

  beforeAll(async () => {
    dbPath = await mkdtemp(path.join(tmpdir(), 'looprail-ddb-test-'));
  });

  afterAll(async () => {
    await running?.stop();
    await rm(dbPath, { recursive: true, force: true });
  });

  it('keeps data on disk across a stop and a start with the same dbPath', async () => {
    const dir = path.join(dbPath, 'nested', 'data'); // created on demand
    const first = await startDynamoDbLocal({ dbPath: dir });
    running = first;
    expect(first.endpoint).toBe(`http://127.0.0.1:${first.port}`);
    const firstClient = clientFor(first.endpoint);
    await ensureTable(firstClient, 'looprail-local');
    await new DynamoRunStore({ client: firstClient, tableName: 'looprail-local' }).createRun(meta);
    firstClient.destroy();
    await first.stop();
    await first.stop(); // idempotent
    expect(await accepts('127.0.0.1', first.port)).toBe(false);
    expect(await readdir(dir)).toContain('shared-local-instance.db');

    const second = await startDynamoDbLocal({ dbPath: dir });
    running = second;
    const secondClient = clientFor(second.endpoint);
    expect((await secondClient.send(new ListTablesCommand({}))).TableNames).toEqual(['looprail-local']);
    await ensureTable(secondClient, 'looprail-local'); // already there: fine
    expect(await new DynamoRunStore({ client: secondClient, tableName: 'looprail-local' }).getRun(meta.runId)).toEqual(
      meta,
    );
    secondClient.destroy();
    await second.stop();
    running = undefined;
  }, 120_000); // two JVM starts: seconds each, more on a busy machine

  it('says what to install when java cannot be found', async () => {
    const error = await startDynamoDbLocal({ javaCommand: '/nonexistent/bin/java' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    const message = (error as Error).message;
    expect(message).toContain('needs Java 17 or newer');
    expect(message).toContain('`/nonexistent/bin/java` was not found');
    expect(message).toContain('apt-get install openjdk-17-jre-headless');
  });

  it.skipIf(process.platform === 'win32')('says what to install when java is older than 17', async () => {
    const fakeJava = path.join(dbPath, 'old-java');
    await writeFile(fakeJava, '#!/bin/sh\necho \'java version "1.8.0_422"\' >&2\n', { mode: 0o755 });
    await expect(startDynamoDbLocal({ javaCommand: fakeJava })).rejects.toThrow(
      /needs Java 17 or newer, but `.*old-java` is Java 8\. Install Java 17 or newer, e\.g\. `sudo apt-get install openjdk-17-jre-headless`/,
    );
  });

  it('refuses inMemory together with dbPath', async () => {
    await expect(startDynamoDbLocal({ inMemory: true, dbPath })).rejects.toThrow(/either inMemory or dbPath/);
  });

  it('reads Java version strings old and new', () => {
    expect(parseJavaMajor('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(parseJavaMajor('openjdk version "21" 2023-09-19')).toBe(21);
    expect(parseJavaMajor('java version "1.8.0_422"')).toBe(8);
    expect(parseJavaMajor('no version here')).toBeUndefined();
  });

  describe('an in-memory instance', () => {
    let local: DynamoDbLocal;

    beforeAll(async () => {
      local = await startDynamoDbLocal({ inMemory: true });
    });

    afterAll(async () => {
      await local?.stop();
    });

    it('listens on 127.0.0.1 only', async () => {
      expect(local.endpoint).toBe(`http://127.0.0.1:${local.port}`);
      expect(await accepts('127.0.0.1', local.port)).toBe(true);
      // Any other address stands in for "the network": DynamoDB Local's own launcher binds them all.
      expect(await accepts('127.0.0.2', local.port)).toBe(false);
    });

    it('refuses a port that is already in use', async () => {
      await expect(startDynamoDbLocal({ port: local.port })).rejects.toThrow(/127\.0\.0\.1:\d+: the port is in use/);
    });
  });
});
