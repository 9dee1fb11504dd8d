import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsoleProxy } from '../../cli/commands/console.ts';
import type { LocalHttpServer } from '../../cli/http-server.ts';
import { loadCatalog } from '../../cli/local/host.ts';
import { ValidationError } from '../../core/errors.ts';
import { systemClock } from '../../core/ports/clock.ts';
import { registerConsole } from '../../functions/http/console/index.ts';
import { Router } from '../../functions/http/router.ts';
import { testTable } from '../support/dynamodb.ts';
import { seedRun } from '../support/seeded-runs.ts';

/**
 * `looprail console --url`: a deployed console behind IAM, shown locally. The "deployed"
 * side here is the console app on 127.0.0.1 that records what it receives, so the test
 * sees every forwarded request carry a SigV4 signature and nothing else get through.
 */

const credentials = async () => ({
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: ['wJalrXUtnFEMI', 'K7MDENG', 'bPxRfiCYEXAMPLEKEY'].join('/'),
});
let upstream: Server;
let proxy: LocalHttpServer & { token: string };
const seen: Array<{ path: string; headers: IncomingHttpHeaders }> = [];

beforeAll(async () => {
  const table = await testTable();
  await seedRun(table.store, { runId: 'deployed-run', agent: 'console-maker', steps: 4 });
  const catalog = await loadCatalog('test/fixtures/console-org');
  const router = new Router();
  registerConsole(router, { store: table.store, catalog: async () => catalog, clock: systemClock });
  upstream = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    seen.push({ path: url.pathname, headers: req.headers });
    const response = await router.handle({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: {},
      rawBody: Buffer.alloc(0),
      principal: 'arn:aws:iam::123456789012:user/ops',
    });
    res.writeHead(response.status, { ...response.headers, 'set-cookie': 'upstream=1' }).end(response.body);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  proxy = await startConsoleProxy({
    url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    region: 'eu-west-1',
    credentials,
  });
});

afterAll(async () => {
  await proxy?.close();
  upstream?.close();
});

const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${proxy.token}` }) =>
  fetch(new URL(path, proxy.url), { headers, redirect: 'manual' });

describe('the console of a deployed stack, locally', () => {
  it('forwards console pages signed with SigV4 for execute-api, and passes the answer on', async () => {
    const before = seen.length;
    const runs = await get('/console/runs?agent=console-maker');
    expect(runs.status).toBe(200);
    expect(runs.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(runs.headers.get('set-cookie')).toBeNull();
    expect(await runs.text()).toContain('deployed-run');
    const forwarded = seen.slice(before);
    expect(forwarded.map((request) => request.path)).toEqual(['/console/runs']);
    expect(String(forwarded[0]!.headers.authorization)).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    );
    const missing = await get('/console/runs/nope');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('run nope does not exist');
  });

  it('asks for its own token first, and forwards nothing but console GETs', async () => {
    const before = seen.length;
    const anonymous = await get('/console/runs', {});
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toContain('Sign in to the console');
    expect((await get('/openapi.json')).status).toBe(404);
    expect((await get('/v1/runs')).status).toBe(404);
    const post = await fetch(new URL('/console/runs', proxy.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${proxy.token}` },
    });
    expect(post.status).toBe(405);
    expect(seen.length).toBe(before);
  });

  it('refuses a URL it cannot use, with one clear line', async () => {
    await expect(startConsoleProxy({ url: 'not a url' })).rejects.toThrow(ValidationError);
    await expect(startConsoleProxy({ url: 'http://127.0.0.1:1' })).rejects.toThrow(
      /cannot tell the Region from 127\.0\.0\.1:1: pass --region/,
    );
  });
});
