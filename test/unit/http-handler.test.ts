import { describe, expect, it } from 'vitest';
import { httpHandler, MAX_BODY_BYTES, type HttpApiEvent } from '../../functions/http/api-gateway.ts';
import type { HttpRequest } from '../../functions/http/types.ts';

/** The Lambda entry's conversions: an API Gateway HTTP API (payload 2.0) event in, a result out. */

function event(
  overrides: Partial<HttpApiEvent> & { path?: string; method?: string; userArn?: string; stage?: string } = {},
): HttpApiEvent {
  const {
    path = '/v1/runs',
    method = 'POST',
    userArn = 'arn:aws:iam::123456789012:user/ops',
    stage = '$default',
    ...rest
  } = overrides;
  return {
    version: '2.0',
    rawPath: path,
    rawQueryString: 'agent=basic&limit=5',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
    body: '{"agent":"basic"}',
    isBase64Encoded: false,
    requestContext: { stage, http: { method }, authorizer: userArn ? { iam: { userArn } } : undefined },
    ...rest,
  };
}

describe('the HTTP Lambda handler', () => {
  const seen: HttpRequest[] = [];
  const handler = httpHandler(() => async (request) => {
    seen.push(request);
    return request.path === '/binary'
      ? { status: 200, headers: { 'content-type': 'image/png' }, body: Buffer.from([0, 1, 2]) }
      : { status: 201, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
  });

  it('passes method, path (without the stage), query, headers, raw body and the IAM caller to the app', async () => {
    const result = await handler(
      event({
        stage: 'prod',
        path: '/prod/v1/runs',
        body: Buffer.from('{"agent":"basic"}').toString('base64'),
        isBase64Encoded: true,
      }),
    );
    expect(result).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'application/json' },
      body: '{"ok":true}',
      isBase64Encoded: false,
    });
    expect(seen.at(-1)).toEqual({
      method: 'POST',
      path: '/v1/runs',
      query: { agent: 'basic', limit: '5' },
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
      rawBody: Buffer.from('{"agent":"basic"}'),
      principal: 'arn:aws:iam::123456789012:user/ops',
    });
  });

  it('base64-encodes a binary answer', async () => {
    const result = await handler(event({ path: '/binary', method: 'GET', userArn: '' }));
    expect(result).toMatchObject({ statusCode: 200, body: 'AAEC', isBase64Encoded: true });
  });

  it('refuses /v1 without an IAM caller, and a body over 1 MB, before the app sees them', async () => {
    const before = seen.length;
    const anonymous = await handler(event({ userArn: '' }));
    expect(anonymous.statusCode).toBe(401);
    const huge = await handler(event({ body: 'x'.repeat(MAX_BODY_BYTES + 1) }));
    expect(huge.statusCode).toBe(413);
    expect(JSON.parse(String(huge.body))).toMatchObject({ error: { code: 'body_too_large' } });
    expect(seen.length).toBe(before);
  });

  it('refuses the console without an IAM caller too, and passes it the caller when there is one', async () => {
    const before = seen.length;
    for (const path of ['/console', '/console/runs/r-1']) {
      expect((await handler(event({ path, method: 'GET', userArn: '' }))).statusCode).toBe(401);
    }
    expect(seen.length).toBe(before);
    await handler(event({ path: '/console/runs', method: 'GET' }));
    expect(seen.at(-1)).toMatchObject({ path: '/console/runs', principal: 'arn:aws:iam::123456789012:user/ops' });
  });

  it('answers a generic 500 to an event that is not payload format 2.0', async () => {
    const result = await handler({ httpMethod: 'GET', path: '/v1/runs' });
    expect(result.statusCode).toBe(500);
    expect(String(result.body)).not.toContain('version');
  });
});
