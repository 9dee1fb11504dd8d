import { createHash, createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor, regionOfApiUrl, sigv4Fetch } from '../../cli/sigv4.ts';

/**
 * A deployed stack's API takes SigV4-signed requests. The signature is checked here with
 * an independent implementation of AWS's documented algorithm, against what a local
 * 127.0.0.1 server actually received.
 */

const credentials = async () => ({
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token-example',
});
let server: Server;
let url: string;
const received: Array<{ method: string; path: string; headers: IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push({ method: req.method!, path: req.url!, headers: req.headers, body });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"runs":[]}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server?.close());

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const hmac = (key: Buffer | string, text: string) => createHmac('sha256', key).update(text).digest();

/** AWS Signature Version 4, from the documentation, for checking. */
function expectedSignature(
  request: (typeof received)[number],
  signedHeaders: string[],
  amzDate: string,
  region: string,
): string {
  const [path, query = ''] = request.path.split('?');
  const canonicalQuery = query.split('&').filter(Boolean).sort().join('&');
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${String(request.headers[name]).trim()}\n`).join('');
  const canonical = [
    request.method,
    path,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(';'),
    sha256(request.body),
  ].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${region}/execute-api/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(
    hmac(hmac(hmac(`AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`, amzDate.slice(0, 8)), region), 'execute-api'),
    'aws4_request',
  );
  return createHmac('sha256', key).update(toSign).digest('hex');
}

describe('SigV4 for a deployed API', () => {
  it("signs each request for execute-api with the caller's credentials, verifiably", async () => {
    const signedFetch = sigv4Fetch('eu-west-1', credentials);
    const response = await signedFetch(`${url}/v1/runs?limit=5&agent=triage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"agent":"triage"}',
    });
    expect(response.status).toBe(200);
    const request = received.at(-1)!;
    const authorization = String(request.headers.authorization);
    const match =
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/(\d{8})\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    expect(match).not.toBeNull();
    const signedHeaders = match![2]!.split(';');
    expect(signedHeaders).toEqual(
      expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token', 'content-type']),
    );
    expect(request.headers['x-amz-security-token']).toBe('session-token-example');
    expect(match![3]).toBe(
      expectedSignature(request, signedHeaders, String(request.headers['x-amz-date']), 'eu-west-1'),
    );
    expect(request.body).toBe('{"agent":"triage"}');
  });

  it('uses the token for a dev server, and SigV4 for an execute-api URL', () => {
    expect(regionOfApiUrl('https://abc123.execute-api.eu-west-1.amazonaws.com')).toBe('eu-west-1');
    expect(regionOfApiUrl('http://127.0.0.1:8787')).toBeUndefined();
    expect(clientFor({ url: 'http://127.0.0.1:8787', token: 't' })).toBeDefined();
  });
});
