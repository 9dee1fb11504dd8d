import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import { connect as netConnect, createServer as createTcpServer, Socket } from 'node:net';
import type { AddressInfo, Server as TcpServer } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEgressProxy } from '../../containers/egress-proxy/main.ts';
import { createEgressProxy } from '../../containers/egress-proxy/proxy.ts';
import type { EgressProxy, EgressProxyOptions, Resolver } from '../../containers/egress-proxy/proxy.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import { egressToken, egressUser } from '../../adapters/sandbox/tokens.ts';
import { ConfigurationError, SecretNotFoundError } from '../../core/errors.ts';
import type { Logger } from '../../core/ports/logger.ts';

/**
 * The egress proxy against real local targets on 127.0.0.1: a TCP echo server behind
 * CONNECT (what a TLS connection looks like to the proxy: opaque bytes), a plain HTTP
 * server for absolute-form requests, and Node's own fetch following HTTP_PROXY the way
 * a sandbox's tools do. Names resolve through an injected resolver, so `echo.test` and
 * friends exercise the allowlist by name while the bytes go to 127.0.0.1.
 */

// Built at run time: no key-shaped literal in the source.
const signingKey = randomBytes(32).toString('hex');

interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** Every log line any proxy in this file wrote, as the JSON it would be on stdout. */
const everyLogLine: string[] = [];
/** Every egress token any test presented. */
const presentedTokens = new Set<string>();

function capturingLogger(): {
  log: Logger;
  lines: LogLine[];
  lineFor(predicate: (line: LogLine) => boolean): Promise<LogLine>;
} {
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  const push = (level: string, message: string, fields?: Record<string, unknown>) => {
    const line = { level, message, ...fields };
    lines.push(line);
    everyLogLine.push(JSON.stringify(line));
    for (const wake of waiters) wake();
  };
  return {
    lines,
    log: {
      info: (m, f) => push('info', m, f),
      warn: (m, f) => push('warn', m, f),
      error: (m, f) => push('error', m, f),
    },
    async lineFor(predicate) {
      for (;;) {
        const found = lines.find(predicate);
        if (found) return found;
        await new Promise<void>((wake) => {
          const once = () => {
            waiters.delete(once);
            wake();
          };
          waiters.add(once);
        });
      }
    },
  };
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A sandbox's real credentials (what the broker puts in HTTPS_PROXY). */
function credentials(agent: string, sandboxId: string, key = signingKey): string {
  const token = egressToken(key, agent, sandboxId);
  presentedTokens.add(token);
  return basic(egressUser(agent, sandboxId), token);
}

let sandboxCounter = 0;
const newSandbox = () => `sbx-${++sandboxCounter}-${randomBytes(3).toString('hex')}`;

// --- local targets --------------------------------------------------------------------

let echo: TcpServer;
let echoPort: number;
let web: Server;
let webPort: number;
let closedPort: number;
const webRequests: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];

const dns: Record<string, string[]> = {
  'echo.test': ['127.0.0.1'],
  'web.test': ['127.0.0.1'],
  'api.wild.test': ['127.0.0.1'],
  'deep.a.wild.test': ['127.0.0.1'],
  'wild.test': ['127.0.0.1'],
  'metadata.test': ['169.254.169.254'],
  'credentials.test': ['169.254.170.2'],
  'internal.test': ['10.1.2.3'],
  'mixed.test': ['127.0.0.1', '10.0.0.7'],
  'refused.test': ['127.0.0.1'],
};
const resolved: string[] = [];
const resolver: Resolver = async (name) => {
  resolved.push(name);
  const addresses = dns[name];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return addresses;
};

function allowlists(): Record<string, string[]> {
  return {
    maker: [
      `echo.test:${echoPort}`,
      `web.test:${webPort}`,
      `*.wild.test:${echoPort}`,
      `metadata.test:${echoPort}`,
      `credentials.test:${echoPort}`,
      '169.254.169.254:80',
      `127.0.0.1:${echoPort}`,
      `internal.test:${echoPort}`,
      `mixed.test:${echoPort}`,
      `nx.test:${echoPort}`,
      `refused.test:${closedPort}`,
      `rebind.test:${echoPort}`,
      `localhost:${echoPort}`,
    ],
    other: [`elsewhere.test:${echoPort}`],
  };
}

beforeAll(async () => {
  echo = createTcpServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as AddressInfo).port;

  web = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    webRequests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    if (req.url === '/hangup') return req.socket.destroy();
    res.writeHead(201, 'Made', {
      'content-type': 'text/plain',
      'x-target': 'yes',
      connection: 'x-drop-me',
      'x-drop-me': 'hop-by-hop',
    });
    res.end(`seen ${req.method} ${req.url} ${body}`);
  });
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  webPort = (web.address() as AddressInfo).port;

  const closed = createTcpServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  closedPort = (closed.address() as AddressInfo).port;
  closed.close();
  await once(closed, 'close');
});

afterAll(async () => {
  echo.close();
  web.close();
  web.closeAllConnections();
});

const proxies: EgressProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

async function startProxy(options: Partial<EgressProxyOptions> = {}) {
  const logs = capturingLogger();
  const proxy = createEgressProxy({
    allowlists: allowlists(),
    signingKey: async () => signingKey,
    resolve: resolver,
    allowLoopback: true,
    log: logs.log,
    ...options,
  });
  proxies.push(proxy);
  const { port } = await proxy.listen(0, '127.0.0.1');
  return { proxy, port, ...logs };
}

// --- clients --------------------------------------------------------------------------

interface Tunnel {
  status: number;
  headers: IncomingHttpHeaders;
  socket: Socket;
  head: Buffer;
}

/** A CONNECT through Node's own HTTP client. */
function connectThrough(proxyPort: number, target: string, authorization?: string): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: proxyPort,
      method: 'CONNECT',
      path: target,
      agent: false,
      headers: authorization === undefined ? {} : { 'proxy-authorization': authorization },
    });
    req.on('connect', (res: IncomingMessage, socket: Socket, head: Buffer) =>
      resolve({ status: res.statusCode!, headers: res.headers, socket, head }),
    );
    req.on('error', reject);
    req.end();
  });
}

/** A refused CONNECT: its status, headers and the one-line reason (the proxy closes after it). */
async function refusedConnect(proxyPort: number, target: string, authorization?: string) {
  const tunnel = await connectThrough(proxyPort, target, authorization);
  const chunks: Buffer[] = [tunnel.head];
  for await (const chunk of tunnel.socket) chunks.push(chunk as Buffer);
  return { status: tunnel.status, headers: tunnel.headers, body: Buffer.concat(chunks).toString('utf8') };
}

/** Writes to a tunnel and reads until `expected` bytes came back. */
async function roundTrip(socket: Socket, data: Buffer): Promise<Buffer> {
  const received: Buffer[] = [];
  let length = 0;
  const done = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      if (length >= data.length) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  socket.write(data);
  await done;
  return Buffer.concat(received);
}

/** An absolute-form (or any) request to the proxy through Node's HTTP client. */
function viaProxy(
  proxyPort: number,
  target: string,
  options: { authorization?: string; method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; statusMessage: string; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.authorization !== undefined) headers['proxy-authorization'] = options.authorization;
    const req = request({
      host: '127.0.0.1',
      port: proxyPort,
      method: options.method ?? 'GET',
      path: target,
      agent: false,
      headers,
    });
    req.on('response', async (res) => {
      let body = '';
      for await (const chunk of res) body += chunk;
      resolve({ status: res.statusCode!, statusMessage: res.statusMessage!, headers: res.headers, body });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Raw bytes to the proxy; everything it answers until it closes. */
async function raw(proxyPort: number, text: string): Promise<string> {
  const socket = netConnect(proxyPort, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(text);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const closed = (socket: Socket) => (socket.closed ? Promise.resolve() : once(socket, 'close'));

// --- tests ----------------------------------------------------------------------------

describe('egress proxy: CONNECT', () => {
  it('tunnels bytes both ways to an allowed host:port and logs one line for the connection', async () => {
    const { port, lineFor } = await startProxy();
    const sandbox = newSandbox();
    const tunnel = await connectThrough(port, `echo.test:${echoPort}`, credentials('maker', sandbox));
    expect(tunnel.status).toBe(200);

    expect((await roundTrip(tunnel.socket, Buffer.from('ping'))).toString()).toBe('ping');
    const big = randomBytes(256 * 1024);
    expect((await roundTrip(tunnel.socket, big)).equals(big)).toBe(true);
    tunnel.socket.end();
    await closed(tunnel.socket);

    const line = await lineFor((l) => l.sandbox === sandbox);
    expect(line).toEqual({
      level: 'info',
      message: 'egress',
      agent: 'maker',
      sandbox,
      method: 'CONNECT',
      host: 'echo.test',
      port: echoPort,
      decision: 'allowed',
      status: 200,
      bytesUp: 4 + big.length,
      bytesDown: 4 + big.length,
      durationMs: expect.any(Number),
    });
  });

  it('measures durations with the injected clock', async () => {
    let nowMs = Date.parse('2026-03-01T09:00:00Z');
    // Each reading is 250 ms after the last: the first is the start, the second the log line.
    const { port, lineFor } = await startProxy({ clock: { now: () => new Date((nowMs += 250)) } });
    const sandbox = newSandbox();
    const tunnel = await connectThrough(port, `echo.test:${echoPort}`, credentials('maker', sandbox));
    tunnel.socket.destroy();
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({ durationMs: 250 });
  });

  it('forwards bytes a client sends right behind the CONNECT line, before the 200', async () => {
    const { port } = await startProxy();
    const socket = netConnect(port, '127.0.0.1');
    const auth = credentials('maker', newSandbox());
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(
      `CONNECT echo.test:${echoPort} HTTP/1.1\r\nHost: echo.test:${echoPort}\r\nProxy-Authorization: ${auth}\r\n\r\nearly-bytes`,
    );
    const expected = 'HTTP/1.1 200 Connection Established\r\n\r\nearly-bytes';
    while (Buffer.concat(chunks).length < expected.length) await once(socket, 'data');
    expect(Buffer.concat(chunks).toString()).toBe(expected);
    socket.destroy();
  });

  it('connects to the address it checked: one resolution per connection, the socket opened to the IP', async () => {
    const opened: Array<[string, number]> = [];
    let calls = 0;
    // A rebinding name: public-looking first, the metadata endpoint on every later lookup.
    const rebinding: Resolver = async (name) => {
      if (name !== 'rebind.test') return resolver(name);
      calls += 1;
      return calls === 1 ? ['127.0.0.1'] : ['169.254.169.254'];
    };
    const { port } = await startProxy({
      resolve: rebinding,
      connect: (address, targetPort) => {
        opened.push([address, targetPort]);
        return netConnect({ host: address, port: targetPort });
      },
    });
    const tunnel = await connectThrough(port, `rebind.test:${echoPort}`, credentials('maker', newSandbox()));
    expect(tunnel.status).toBe(200);
    expect((await roundTrip(tunnel.socket, Buffer.from('same address'))).toString()).toBe('same address');
    tunnel.socket.destroy();
    expect(calls).toBe(1);
    expect(opened).toEqual([['127.0.0.1', echoPort]]);
  });

  it('answers 400 to a CONNECT without a host:port target', async () => {
    const { port, lineFor } = await startProxy();
    const refused = await refusedConnect(port, 'echo.test', credentials('maker', newSandbox()));
    expect(refused.status).toBe(400);
    expect(refused.body).toBe('CONNECT needs a host:port target\n');
    expect(await lineFor((l) => l.status === 400)).toMatchObject({ decision: 'denied', method: 'CONNECT' });
    expect((await refusedConnect(port, 'user@echo.test:443', credentials('maker', newSandbox()))).status).toBe(400);
    expect((await refusedConnect(port, 'echo.test:0', credentials('maker', newSandbox()))).status).toBe(400);
  });
});

describe('egress proxy: plain HTTP', () => {
  it('forwards an absolute-form GET without Proxy-Authorization or hop-by-hop headers', async () => {
    const { port, lineFor } = await startProxy();
    const sandbox = newSandbox();
    webRequests.length = 0;
    const answer = await viaProxy(port, `http://web.test:${webPort}/private/path?secret=query-value`, {
      authorization: credentials('maker', sandbox),
      headers: {
        host: `web.test:${webPort}`,
        'x-custom': 'kept',
        connection: 'x-per-hop',
        'x-per-hop': 'dropped',
        'proxy-connection': 'keep-alive',
      },
    });
    expect(answer).toMatchObject({
      status: 201,
      statusMessage: 'Made',
      body: 'seen GET /private/path?secret=query-value ',
    });
    expect(answer.headers['x-target']).toBe('yes');
    expect(answer.headers['x-drop-me']).toBeUndefined();

    expect(webRequests).toHaveLength(1);
    const seen = webRequests[0]!;
    expect(seen.url).toBe('/private/path?secret=query-value');
    expect(seen.headers.host).toBe(`web.test:${webPort}`);
    expect(seen.headers['x-custom']).toBe('kept');
    for (const name of ['proxy-authorization', 'proxy-connection', 'x-per-hop'])
      expect(seen.headers[name], name).toBeUndefined();

    const line = await lineFor((l) => l.sandbox === sandbox);
    expect(line).toMatchObject({
      agent: 'maker',
      method: 'GET',
      host: 'web.test',
      port: webPort,
      decision: 'allowed',
      status: 201,
      bytesUp: 0,
    });
    expect(line.bytesDown).toBe(Buffer.byteLength(answer.body));
    expect(JSON.stringify(line)).not.toMatch(/private|secret|query-value|x-custom/);
  });

  it('forwards a request body and counts its bytes', async () => {
    const { port, lineFor } = await startProxy();
    const sandbox = newSandbox();
    const answer = await viaProxy(port, `http://web.test:${webPort}/upload`, {
      authorization: credentials('maker', sandbox),
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello body',
    });
    expect(answer.body).toBe('seen POST /upload hello body');
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({
      method: 'POST',
      bytesUp: 10,
      decision: 'allowed',
    });
  });

  it('works for a real client: Node fetch following HTTP_PROXY with the broker-style URL', async () => {
    const { port, lineFor } = await startProxy();
    const sandbox = newSandbox();
    const token = egressToken(signingKey, 'maker', sandbox);
    presentedTokens.add(token);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NODE_USE_ENV_PROXY: '1',
      HTTP_PROXY: `http://${encodeURIComponent(egressUser('maker', sandbox))}:${token}@127.0.0.1:${port}`,
    };
    const script = `fetch('http://web.test:${webPort}/from-fetch').then(async (r) => console.log(r.status, await r.text()), (e) => { console.log('failed', e.cause?.message ?? e.message); process.exitCode = 1; })`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--no-warnings', '-e', script], { env });
    expect(stdout.trim()).toBe('201 seen GET /from-fetch');
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({
      agent: 'maker',
      host: 'web.test',
      decision: 'allowed',
    });
  });

  it('answers 400 to an origin-form request, an https:// absolute URL and an upgrade', async () => {
    const { port, lineFor } = await startProxy();
    const origin = await viaProxy(port, '/some/path', { authorization: credentials('maker', newSandbox()) });
    expect(origin.status).toBe(400);
    expect(origin.body).toBe(
      'this is an egress proxy: send CONNECT host:port or an absolute-form request (GET http://host/path)\n',
    );

    const https = await viaProxy(port, `https://web.test:${webPort}/`, {
      authorization: credentials('maker', newSandbox()),
    });
    expect(https.status).toBe(400);
    expect(https.body).toContain('CONNECT');

    const upgrade = await raw(
      port,
      `GET http://web.test:${webPort}/ HTTP/1.1\r\nHost: web.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    );
    expect(upgrade).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
    expect(upgrade).toContain('protocol upgrades are not proxied; use CONNECT');
    await lineFor((l) => l.reason === 'protocol upgrades are not proxied; use CONNECT');
  });

  it('answers 502 when the destination closes without an answer', async () => {
    const { port, lineFor } = await startProxy();
    const sandbox = newSandbox();
    const answer = await viaProxy(port, `http://web.test:${webPort}/hangup`, {
      authorization: credentials('maker', sandbox),
    });
    expect(answer.status).toBe(502);
    expect(answer.body).toBe('web.test closed the connection without an answer\n');
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({
      level: 'warn',
      decision: 'failed',
      status: 502,
    });
  });
});

describe('egress proxy: credentials', () => {
  it('answers 407 with a Basic challenge when credentials are missing', async () => {
    const { port, lineFor } = await startProxy();
    const tunnel = await refusedConnect(port, `echo.test:${echoPort}`);
    expect(tunnel.status).toBe(407);
    expect(tunnel.headers['proxy-authenticate']).toBe('Basic realm="looprail-egress"');
    const plain = await viaProxy(port, `http://web.test:${webPort}/`);
    expect(plain.status).toBe(407);
    expect(plain.headers['proxy-authenticate']).toBe('Basic realm="looprail-egress"');
    expect(await lineFor((l) => l.status === 407)).toMatchObject({ decision: 'denied', host: 'echo.test' });
  });

  it('answers 407 to a wrong token, a malformed header and a user that is not <agent>~<sandbox>', async () => {
    const { port } = await startProxy();
    const sandbox = newSandbox();
    const wrongKey = randomBytes(32).toString('hex');
    const cases = [
      credentials('maker', sandbox, wrongKey),
      basic(egressUser('maker', sandbox), 'not-the-token'),
      basic(egressUser('maker', sandbox), ''),
      `Bearer ${egressToken(signingKey, 'maker', sandbox)}`,
      'Basic !!!',
      basic('maker', egressToken(signingKey, 'maker', sandbox)),
    ];
    presentedTokens.add(egressToken(signingKey, 'maker', sandbox));
    for (const authorization of cases) {
      const refused = await refusedConnect(port, `echo.test:${echoPort}`, authorization);
      expect(refused.status, authorization).toBe(407);
      expect(refused.headers['proxy-authenticate']).toBe('Basic realm="looprail-egress"');
    }
  });

  it("answers 407 to another agent's or another sandbox's token", async () => {
    const { port } = await startProxy();
    const sandbox = newSandbox();
    const othersToken = egressToken(signingKey, 'other', sandbox);
    const otherSandboxToken = egressToken(signingKey, 'maker', newSandbox());
    presentedTokens.add(othersToken).add(otherSandboxToken);
    const asMaker = await refusedConnect(
      port,
      `echo.test:${echoPort}`,
      basic(egressUser('maker', sandbox), othersToken),
    );
    expect(asMaker.status).toBe(407);
    expect(asMaker.body).toBe(`wrong egress credentials for maker~${sandbox}\n`);
    expect(
      (await refusedConnect(port, `echo.test:${echoPort}`, basic(egressUser('maker', sandbox), otherSandboxToken)))
        .status,
    ).toBe(407);
  });

  it('answers 403 to a valid token of an agent without an allowlist', async () => {
    const { port } = await startProxy();
    const refused = await refusedConnect(port, `echo.test:${echoPort}`, credentials('ghost', newSandbox()));
    expect(refused.status).toBe(403);
    expect(refused.body).toBe('agent ghost has no network allowlist\n');
  });

  it('answers 503 when the signing key cannot be read, logging only the error name', async () => {
    const { port, lines } = await startProxy({
      signingKey: async () => {
        throw new SecretNotFoundError('secret "looprail/sandbox-signing-key" not found in AWS Secrets Manager');
      },
    });
    const refused = await refusedConnect(port, `echo.test:${echoPort}`, credentials('maker', newSandbox()));
    expect(refused.status).toBe(503);
    expect(refused.body).toBe('the egress proxy cannot check credentials right now\n');
    expect(lines.find((l) => l.level === 'error')).toMatchObject({
      message: 'egress signing key unavailable',
      error: 'looprail.SecretNotFound',
    });
  });
});

describe('egress proxy: allowlist', () => {
  it('answers 403 naming the host (never the allowlist) when the host is not allowed', async () => {
    const { port, lineFor } = await startProxy();
    const sandbox = newSandbox();
    const refused = await refusedConnect(port, `elsewhere.test:${echoPort}`, credentials('maker', sandbox));
    expect(refused.status).toBe(403);
    expect(refused.body).toBe("elsewhere.test is not in this sandbox's network allowlist\n");
    expect(refused.body).not.toContain('echo.test');
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({
      decision: 'denied',
      status: 403,
      host: 'elsewhere.test',
    });

    const plain = await viaProxy(port, `http://elsewhere.test:${echoPort}/`, {
      authorization: credentials('maker', newSandbox()),
    });
    expect(plain.status).toBe(403);
  });

  it('answers 403 when the host is allowed on another port', async () => {
    const { port } = await startProxy();
    const refused = await refusedConnect(port, 'echo.test:443', credentials('maker', newSandbox()));
    expect(refused.status).toBe(403);
    expect(refused.body).toBe("port 443 of echo.test is not in this sandbox's network allowlist\n");
    expect(
      (await viaProxy(port, 'http://web.test/', { authorization: credentials('maker', newSandbox()) })).status,
    ).toBe(403);
  });

  it('lets *.wild.test reach subdomains at any depth but not wild.test itself', async () => {
    const { port } = await startProxy();
    for (const host of ['api.wild.test', 'deep.a.wild.test', 'API.Wild.Test.']) {
      const tunnel = await connectThrough(port, `${host}:${echoPort}`, credentials('maker', newSandbox()));
      expect(tunnel.status, host).toBe(200);
      expect((await roundTrip(tunnel.socket, Buffer.from(host))).toString()).toBe(host);
      tunnel.socket.destroy();
    }
    const apex = await refusedConnect(port, `wild.test:${echoPort}`, credentials('maker', newSandbox()));
    expect(apex.status).toBe(403);
  });

  it("applies the presenting agent's allowlist only", async () => {
    const { port } = await startProxy();
    // echo.test is on maker's list, not on other's.
    const refused = await refusedConnect(port, `echo.test:${echoPort}`, credentials('other', newSandbox()));
    expect(refused.status).toBe(403);
  });
});

describe('egress proxy: destinations', () => {
  it('refuses loopback, by name and as a literal in any spelling, unless the test option allows it', async () => {
    const { port, lineFor } = await startProxy({ allowLoopback: false });
    const sandbox = newSandbox();
    const byName = await refusedConnect(port, `echo.test:${echoPort}`, credentials('maker', sandbox));
    expect(byName.status).toBe(403);
    expect(byName.body).toBe('echo.test resolves to 127.0.0.1 (loopback), which sandboxes may not reach\n');
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({ decision: 'denied', status: 403 });

    const literal = await refusedConnect(port, `127.0.0.1:${echoPort}`, credentials('maker', newSandbox()));
    expect(literal.status).toBe(403);
    expect(literal.body).toBe('127.0.0.1 is a loopback address, which sandboxes may not reach\n');
    for (const spelling of ['127.1', '0x7f.0.0.1', '2130706433']) {
      expect(
        (await refusedConnect(port, `${spelling}:${echoPort}`, credentials('maker', newSandbox()))).status,
        spelling,
      ).toBe(403);
    }
    expect(
      (await viaProxy(port, `http://web.test:${webPort}/`, { authorization: credentials('maker', newSandbox()) }))
        .status,
    ).toBe(403);

    const { port: testPort } = await startProxy({ allowLoopback: true });
    const allowed = await connectThrough(testPort, `127.0.0.1:${echoPort}`, credentials('maker', newSandbox()));
    expect(allowed.status).toBe(200);
    allowed.socket.destroy();
  });

  it('refuses localhost as the system resolver answers it (the default resolver, no test option)', async () => {
    const { port } = await startProxy({ resolve: undefined, allowLoopback: false });
    const refused = await refusedConnect(port, `localhost:${echoPort}`, credentials('maker', newSandbox()));
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(
      /^localhost resolves to (127\.0\.0\.1|::1) \(loopback\), which sandboxes may not reach\n$/,
    );
  });

  it('refuses an allowed name that resolves to the metadata or ECS credentials endpoint', async () => {
    const { port, lineFor } = await startProxy();
    const sandbox = newSandbox();
    const metadata = await refusedConnect(port, `metadata.test:${echoPort}`, credentials('maker', sandbox));
    expect(metadata.status).toBe(403);
    expect(metadata.body).toBe(
      'metadata.test resolves to 169.254.169.254 (link-local), which sandboxes may not reach\n',
    );
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({
      host: 'metadata.test',
      decision: 'denied',
      status: 403,
    });

    expect(
      (await refusedConnect(port, `credentials.test:${echoPort}`, credentials('maker', newSandbox()))).status,
    ).toBe(403);
    // On the allowlist as a literal, plain HTTP or CONNECT, it is still refused.
    expect(
      (
        await viaProxy(port, 'http://169.254.169.254/latest/meta-data/', {
          authorization: credentials('maker', newSandbox()),
        })
      ).status,
    ).toBe(403);
    // An IPv4-mapped spelling is a different literal: it matches no IPv4 entry.
    const mapped = await refusedConnect(port, '[::ffff:169.254.169.254]:80', credentials('maker', newSandbox()));
    expect(mapped.body).toBe("[::ffff:a9fe:a9fe] is not in this sandbox's network allowlist\n");
  });

  it('refuses private addresses even with the test option, and a name with any private answer', async () => {
    const { port } = await startProxy();
    const internal = await refusedConnect(port, `internal.test:${echoPort}`, credentials('maker', newSandbox()));
    expect(internal.body).toBe('internal.test resolves to 10.1.2.3 (private), which sandboxes may not reach\n');
    const mixed = await refusedConnect(port, `mixed.test:${echoPort}`, credentials('maker', newSandbox()));
    expect(mixed.status).toBe(403);
    expect(mixed.body).toBe('mixed.test resolves to 10.0.0.7 (private), which sandboxes may not reach\n');
  });

  it('answers 502 when the name does not resolve or the destination refuses', async () => {
    const { port, lineFor } = await startProxy();
    const sandbox = newSandbox();
    const nx = await refusedConnect(port, `nx.test:${echoPort}`, credentials('maker', sandbox));
    expect(nx.status).toBe(502);
    expect(nx.body).toBe('cannot resolve nx.test (ENOTFOUND)\n');
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({
      level: 'warn',
      decision: 'failed',
      status: 502,
    });

    const refused = await refusedConnect(port, `refused.test:${closedPort}`, credentials('maker', newSandbox()));
    expect(refused.status).toBe(502);
    expect(refused.body).toBe(`cannot connect to refused.test:${closedPort} (ECONNREFUSED)\n`);
  });
});

describe('egress proxy: limits', () => {
  it('answers 504 when the destination does not accept in time', async () => {
    const { port, lineFor } = await startProxy({ connectTimeoutMs: 50, connect: () => new Socket() });
    const sandbox = newSandbox();
    const refused = await refusedConnect(port, `echo.test:${echoPort}`, credentials('maker', sandbox));
    expect(refused.status).toBe(504);
    expect(refused.body).toBe(`connecting to echo.test:${echoPort} timed out\n`);
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({ decision: 'failed', status: 504 });
  });

  it('answers 504 when resolving does not finish in time', async () => {
    const { port } = await startProxy({ connectTimeoutMs: 50, resolve: () => new Promise(() => {}) });
    const refused = await refusedConnect(port, `echo.test:${echoPort}`, credentials('maker', newSandbox()));
    expect(refused.status).toBe(504);
    expect(refused.body).toBe('resolving echo.test timed out\n');
  });

  it('closes a tunnel with no traffic after the idle timeout', async () => {
    const { port, lineFor } = await startProxy({ idleTimeoutMs: 100 });
    const sandbox = newSandbox();
    const tunnel = await connectThrough(port, `echo.test:${echoPort}`, credentials('maker', sandbox));
    expect(tunnel.status).toBe(200);
    tunnel.socket.on('error', () => {});
    await closed(tunnel.socket);
    expect(await lineFor((l) => l.sandbox === sandbox)).toMatchObject({
      decision: 'allowed',
      reason: 'idle timeout',
      bytesUp: 0,
      bytesDown: 0,
    });
  });

  it('caps open connections per sandbox, and frees the slot when one closes', async () => {
    const { port, proxy, lineFor } = await startProxy({ maxConnectionsPerSandbox: 2 });
    const sandbox = newSandbox();
    const auth = credentials('maker', sandbox);
    const first = await connectThrough(port, `echo.test:${echoPort}`, auth);
    const second = await connectThrough(port, `echo.test:${echoPort}`, auth);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(proxy.active).toBe(2);

    const third = await refusedConnect(port, `echo.test:${echoPort}`, auth);
    expect(third.status).toBe(429);
    expect(third.body).toBe(`sandbox ${sandbox} already has 2 open connections\n`);

    // Another sandbox has its own budget.
    const elsewhere = await connectThrough(port, `echo.test:${echoPort}`, credentials('maker', newSandbox()));
    expect(elsewhere.status).toBe(200);
    elsewhere.socket.destroy();

    first.socket.destroy();
    await lineFor((l) => l.sandbox === sandbox && l.status === 200);
    const again = await connectThrough(port, `echo.test:${echoPort}`, auth);
    expect(again.status).toBe(200);
    again.socket.destroy();
    second.socket.destroy();
  });

  it('answers 431 to request headers over the limit', async () => {
    const { port, lineFor } = await startProxy({ maxHeaderBytes: 2048 });
    const answer = await raw(
      port,
      `CONNECT echo.test:${echoPort} HTTP/1.1\r\nHost: echo.test\r\nX-Padding: ${'a'.repeat(4096)}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1.1 431 Request Header Fields Too Large\r\n/);
    await lineFor((l) => l.status === 431);
  });

  it('answers 400 to a request that is not HTTP', async () => {
    const { port } = await startProxy();
    expect(await raw(port, 'SSH-2.0-OpenSSH_9.6\r\n\r\n')).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
  });
});

describe('egress proxy: configuration', () => {
  it('refuses invalid allowlists at creation, naming every agent and entry', () => {
    expect(() =>
      createEgressProxy({
        allowlists: { maker: ['ok.example.com', 'bad host'], other: ['x:0'] },
        signingKey: async () => signingKey,
      }),
    ).toThrow(
      new ConfigurationError(
        'invalid egress allowlists:\n  agent maker: "bad host" is not a host, *.suffix or host:port entry\n  agent other: "x:0" needs a port from 1 to 65535 after the colon',
      ),
    );
  });
});

describe('egress proxy: container entry over Secrets Manager', () => {
  const secretName = 'looprail/test-signing-key';
  let secretsEndpoint: Server;
  let client: SecretsManagerClient;
  const secretRequests: string[] = [];

  beforeAll(async () => {
    // Speaks the Secrets Manager JSON protocol for GetSecretValue, as test/integration/secrets-manager.test.ts does.
    secretsEndpoint = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      secretRequests.push(SecretId);
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (SecretId !== secretName) {
        res.writeHead(400).end(
          JSON.stringify({
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          }),
        );
        return;
      }
      res.writeHead(200).end(
        JSON.stringify({
          ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${SecretId}`,
          Name: SecretId,
          SecretString: signingKey,
          VersionId: 'v1',
        }),
      );
    });
    secretsEndpoint.listen(0, '127.0.0.1');
    await once(secretsEndpoint, 'listening');
    client = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(secretsEndpoint.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' },
      maxAttempts: 1,
    });
  });
  afterAll(() => {
    client.destroy();
    secretsEndpoint.close();
  });

  it('reads the signing key by name once, then serves sandboxes from the cached key', async () => {
    secretRequests.length = 0;
    const logs = capturingLogger();
    const { proxy, address } = await startEgressProxy({
      env: { LOOPRAIL_EGRESS_ALLOWLISTS: JSON.stringify(allowlists()), LOOPRAIL_SANDBOX_SIGNING_SECRET: secretName },
      secrets: new SecretsManagerStore({ client }),
      log: logs.log,
      host: '127.0.0.1',
      port: 0,
      overrides: { resolve: resolver, allowLoopback: true },
    });
    proxies.push(proxy);
    expect(logs.lines[0]).toMatchObject({ message: 'egress proxy listening', agents: ['maker', 'other'] });
    for (let i = 0; i < 3; i += 1) {
      const tunnel = await connectThrough(address.port, `echo.test:${echoPort}`, credentials('maker', newSandbox()));
      expect(tunnel.status).toBe(200);
      expect((await roundTrip(tunnel.socket, Buffer.from(`hello ${i}`))).toString()).toBe(`hello ${i}`);
      tunnel.socket.destroy();
    }
    expect(secretRequests).toEqual([secretName]);
  });

  it('does not start when the signing key is missing', async () => {
    const started = startEgressProxy({
      env: {
        LOOPRAIL_EGRESS_ALLOWLISTS: JSON.stringify(allowlists()),
        LOOPRAIL_SANDBOX_SIGNING_SECRET: 'looprail/no-such-key',
      },
      secrets: new SecretsManagerStore({ client }),
      log: capturingLogger().log,
      host: '127.0.0.1',
      port: 0,
    });
    await expect(started).rejects.toThrow(
      new SecretNotFoundError('secret "looprail/no-such-key" not found in AWS Secrets Manager'),
    );
  });
});

describe('egress proxy: logs', () => {
  it('never contain a token or the credentials header (every line written in this file)', () => {
    expect(everyLogLine.length).toBeGreaterThan(20);
    expect(presentedTokens.size).toBeGreaterThan(20);
    const all = everyLogLine.join('\n');
    for (const token of presentedTokens) {
      expect(all).not.toContain(token);
      expect(all).not.toContain(token.slice(0, 16));
    }
    expect(all).not.toContain(signingKey);
    // No credentials header in any encoding (the 407 reason may say the word Basic, never a value).
    expect(all).not.toMatch(/Basic [A-Za-z0-9+/]{8,}|Bearer |proxy-authorization/i);
    for (const line of everyLogLine) {
      const fields = Object.keys(JSON.parse(line) as object);
      for (const field of fields) {
        expect([
          'level',
          'message',
          'agent',
          'sandbox',
          'method',
          'host',
          'port',
          'decision',
          'status',
          'reason',
          'bytesUp',
          'bytesDown',
          'durationMs',
          'error',
          'agents',
        ]).toContain(field);
      }
    }
  });
});
