import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import { ConfigurationError, SecretNotFoundError, TransientError } from '../../core/errors.ts';
import type { Clock } from '../../core/ports/clock.ts';

/**
 * The real AWS SDK client against a small local endpoint that speaks the Secrets
 * Manager JSON protocol for GetSecretValue (there is no local emulator on npm).
 */

interface Request {
  target: string | undefined;
  secretId: string;
  authorization: string | undefined;
}

const values = new Map<string, string>([['github/token', 'ghp_first-value']]);
/** Names the endpoint answers with a particular error instead of a value. */
const failures = new Map<string, { status: number; type: string }>([
  ['throttled', { status: 400, type: 'ThrottlingException' }],
  ['broken', { status: 500, type: 'InternalServiceError' }],
  ['forbidden', { status: 400, type: 'AccessDeniedException' }],
]);

describe('SecretsManagerStore', () => {
  const requests: Request[] = [];
  let server: Server;
  let client: SecretsManagerClient;
  let nowMs = Date.parse('2026-03-01T09:00:00Z');
  const clock: Clock = { now: () => new Date(nowMs) };

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      requests.push({
        target: req.headers['x-amz-target'] as string | undefined,
        secretId: SecretId,
        authorization: req.headers.authorization,
      });
      const reply = (status: number, payload: unknown) => {
        res
          .writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'test-request' })
          .end(JSON.stringify(payload));
      };
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue')
        return reply(400, { __type: 'UnknownOperationException' });
      const failure = failures.get(SecretId);
      if (failure) return reply(failure.status, { __type: failure.type, message: `simulated ${failure.type}` });
      if (SecretId === 'binary-one') {
        return reply(200, {
          ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:binary-one',
          Name: SecretId,
          SecretBinary: Buffer.from('bin-value').toString('base64'),
        });
      }
      const value = values.get(SecretId);
      if (value === undefined) {
        return reply(400, {
          __type: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        });
      }
      reply(200, {
        ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${SecretId}`,
        Name: SecretId,
        SecretString: value,
        VersionId: 'v1',
        CreatedDate: 1_767_225_600,
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    client = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' },
      // One attempt: the store's own errors are what is under test, not the SDK's retries.
      maxAttempts: 1,
    });
  });
  afterAll(() => {
    client.destroy();
    server.close();
  });
  beforeEach(() => {
    requests.length = 0;
  });

  it('reads a secret with GetSecretValue, signed', async () => {
    const store = new SecretsManagerStore({ client, clock });
    expect(await store.get('github/token')).toBe('ghp_first-value');
    expect(requests).toEqual([
      {
        target: 'secretsmanager.GetSecretValue',
        secretId: 'github/token',
        authorization: expect.stringContaining('AWS4-HMAC-SHA256 Credential=AKIDTEST/'),
      },
    ]);
  });

  it('decodes SecretBinary', async () => {
    expect(await new SecretsManagerStore({ client, clock }).get('binary-one')).toBe('bin-value');
  });

  it('serves from the cache within the TTL and fetches again after it', async () => {
    const store = new SecretsManagerStore({ client, clock, ttlMs: 60_000 });
    expect(await store.get('github/token')).toBe('ghp_first-value');
    values.set('github/token', 'ghp_rotated-value');
    nowMs += 59_000;
    expect(await store.get('github/token')).toBe('ghp_first-value');
    expect(requests).toHaveLength(1);

    nowMs += 2_000;
    expect(await store.get('github/token')).toBe('ghp_rotated-value');
    expect(requests).toHaveLength(2);
    values.set('github/token', 'ghp_first-value');
  });

  it('sends one request for concurrent lookups of the same name', async () => {
    const store = new SecretsManagerStore({ client, clock });
    const results = await Promise.all(Array.from({ length: 10 }, () => store.get('github/token')));
    expect(new Set(results)).toEqual(new Set(['ghp_first-value']));
    expect(requests).toHaveLength(1);
  });

  it('maps ResourceNotFoundException to SecretNotFoundError naming the secret', async () => {
    const store = new SecretsManagerStore({ client, clock });
    const error = await store.get('no/such-secret').catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect((error as Error).message).toBe('secret "no/such-secret" not found in AWS Secrets Manager');
    // Failures are not cached: the secret may be created a moment later.
    values.set('no/such-secret', 'now-here');
    expect(await store.get('no/such-secret')).toBe('now-here');
    values.delete('no/such-secret');
  });

  it('maps throttling and 5xx to TransientError, and access problems to ConfigurationError', async () => {
    const store = new SecretsManagerStore({ client, clock });
    await expect(store.get('throttled')).rejects.toBeInstanceOf(TransientError);
    await expect(store.get('broken')).rejects.toBeInstanceOf(TransientError);
    const denied = await store.get('forbidden').catch((caught: Error) => caught);
    expect(denied).toBeInstanceOf(ConfigurationError);
    expect((denied as Error).message).toContain('cannot read secret "forbidden"');
  });

  it('maps an unreachable endpoint to TransientError', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const offline = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' },
      maxAttempts: 1,
    });
    try {
      await expect(new SecretsManagerStore({ client: offline }).get('github/token')).rejects.toBeInstanceOf(
        TransientError,
      );
    } finally {
      offline.destroy();
    }
  });
});
