import { lookup } from 'node:dns/promises';
import { createServer, request as httpRequest, STATUS_CODES } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigurationError } from '../../../core/errors.ts';
import { systemClock } from '../../../core/ports/clock.ts';
import type { Clock } from '../../../core/ports/clock.ts';
import { silentLogger } from '../../../core/ports/logger.ts';
import type { Logger } from '../../../core/ports/logger.ts';
import { checkEgress, isIpLiteral, normalizeHost, parseEgressAllowlist, parsePort } from '../../../core/sandbox/egress-allowlist.ts';
import type { EgressAllowlist } from '../../../core/sandbox/egress-allowlist.ts';
import { parseEgressUser, verifyEgressToken } from '../tokens.ts';
import { classifyAddress } from './addresses.ts';

/**
 * The egress proxy a sandbox on AWS reaches the network through (its security group
 * allows nothing else). It speaks HTTP CONNECT (for TLS) and absolute-form plain HTTP,
 * authenticates each request with the sandbox's egress credentials (Basic
 * `<agent>~<sandboxId>:<egressToken>`), applies that agent's allowlist, resolves the
 * name itself and connects only to the global address it checked, so neither a
 * private/metadata address nor a DNS answer that changes between check and use gets
 * through. One JSON log line per connection, without paths, headers or bodies.
 */

/** Addresses (IPv4 dotted or bare IPv6) a host name resolves to. */
export type Resolver = (hostname: string) => Promise<readonly string[]>;

export interface EgressProxyOptions {
  /** Per agent, its `sandbox.network.allow` entries. An agent not listed may reach nothing. */
  allowlists: Readonly<Record<string, readonly string[]>>;
  /** The key egress tokens derive from (main.ts reads it by name from the SecretStore, which caches it). */
  signingKey: () => Promise<string>;
  /** Default: the system resolver (getaddrinfo), every address. */
  resolve?: Resolver;
  /** Opens a TCP connection to an address already checked. Default net.connect. */
  connect?: (address: string, port: number) => Socket;
  clock?: Clock;
  log?: Logger;
  /**
   * Tests only: let loopback (127.0.0.0/8, ::1) through, where their targets listen.
   * Private, link-local and every other non-global range stay refused. main.ts never sets it.
   */
  allowLoopback?: boolean;
  /** Resolving plus connecting to the destination. Default 10 s. */
  connectTimeoutMs?: number;
  /** A tunnel or forwarded request with no bytes either way for this long is closed. Default 5 min. */
  idleTimeoutMs?: number;
  /** Open connections one sandbox may hold. Default 64. */
  maxConnectionsPerSandbox?: number;
  /** Request line plus headers. Default 16 KiB. */
  maxHeaderBytes?: number;
}

export interface EgressProxy {
  readonly server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Connections past authentication and not yet closed, over all sandboxes. */
  readonly active: number;
  /** Stops accepting and cuts every open connection. */
  close(): Promise<void>;
}

export const EGRESS_REALM = 'looprail-egress';

/** Compiles every agent's list; all problems at once, each naming the agent. */
export function compileAllowlists(allowlists: Readonly<Record<string, readonly string[]>>): Map<string, EgressAllowlist> {
  const compiled = new Map<string, EgressAllowlist>();
  const problems: string[] = [];
  for (const [agent, entries] of Object.entries(allowlists)) {
    const result = parseEgressAllowlist(entries);
    if ('errors' in result) problems.push(...result.errors.map((error) => `agent ${agent}: ${error}`));
    else compiled.set(agent, result.allowlist);
  }
  if (problems.length > 0) throw new ConfigurationError(`invalid egress allowlists:\n  ${problems.join('\n  ')}`);
  return compiled;
}

const systemResolver: Resolver = async (hostname) => (await lookup(hostname, { all: true, order: 'verbatim' })).map((entry) => entry.address);

/** Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus the proxy's own. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

type Decision = 'allowed' | 'denied' | 'failed';

interface Refusal {
  status: number;
  reason: string;
  decision?: Decision;
  headers?: Record<string, string>;
}

/** What one connection's log line says. No path, query, header or body ever goes here. */
interface Connection {
  method: string;
  agent?: string;
  sandbox?: string;
  host?: string;
  port?: number;
  startedAt: number;
  bytesUp: number;
  bytesDown: number;
  logged: boolean;
}

class Failure extends Error {
  readonly refusal: Refusal;
  constructor(refusal: Refusal) {
    super(refusal.reason);
    this.refusal = refusal;
  }
}

function refuse(status: number, reason: string, extra: Partial<Refusal> = {}): never {
  throw new Failure({ status, reason, ...extra });
}

export function createEgressProxy(options: EgressProxyOptions): EgressProxy {
  const allowlists = compileAllowlists(options.allowlists);
  const resolve = options.resolve ?? systemResolver;
  const connect = options.connect ?? ((address: string, port: number) => netConnect({ host: address, port, allowHalfOpen: true }));
  const clock = options.clock ?? systemClock;
  const log = options.log ?? silentLogger;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 5 * 60_000;
  const maxPerSandbox = options.maxConnectionsPerSandbox ?? 64;
  const perSandbox = new Map<string, number>();
  const sockets = new Set<Duplex>();
  let active = 0;

  const server = createServer({ maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024, requestTimeout: 0 });
  // A forwarded request may upload for as long as bytes keep moving; idleness is what ends it.
  server.timeout = idleTimeoutMs;

  const now = () => clock.now().getTime();
  const begin = (method: string): Connection => ({ method, startedAt: now(), bytesUp: 0, bytesDown: 0, logged: false });

  function finish(connection: Connection, decision: Decision, status: number, reason?: string): void {
    if (connection.logged) return;
    connection.logged = true;
    const line = {
      agent: connection.agent,
      sandbox: connection.sandbox,
      method: connection.method,
      host: connection.host,
      port: connection.port,
      decision,
      status,
      ...(reason === undefined ? {} : { reason }),
      bytesUp: connection.bytesUp,
      bytesDown: connection.bytesDown,
      durationMs: Math.max(0, now() - connection.startedAt),
    };
    if (decision === 'failed') log.warn('egress', line);
    else log.info('egress', line);
  }

  function track(socket: Duplex): void {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  }

  /** Who is asking: their agent and sandbox from verified credentials, and that agent's list. */
  async function authenticate(connection: Connection, header: string | undefined): Promise<EgressAllowlist> {
    const challenge = { headers: { 'proxy-authenticate': `Basic realm="${EGRESS_REALM}"` } };
    if (header === undefined) refuse(407, 'proxy authentication required (Basic, user <agent>~<sandboxId>, password the egress token)', challenge);
    const basic = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
    if (!basic) refuse(407, 'only Basic proxy authentication is accepted', challenge);
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const identity = colon === -1 ? undefined : parseEgressUser(decoded.slice(0, colon));
    if (!identity) refuse(407, 'the proxy user must be <agent>~<sandboxId>', challenge);
    connection.agent = identity.agent;
    connection.sandbox = identity.sandboxId;
    let key: string;
    try {
      key = await options.signingKey();
    } catch (error) {
      log.error('egress signing key unavailable', { error: (error as Error).name });
      return refuse(503, 'the egress proxy cannot check credentials right now', { decision: 'failed' });
    }
    if (!verifyEgressToken(key, identity.agent, identity.sandboxId, decoded.slice(colon + 1))) {
      refuse(407, `wrong egress credentials for ${identity.agent}~${identity.sandboxId}`, challenge);
    }
    const allowlist = allowlists.get(identity.agent);
    if (!allowlist) refuse(403, `agent ${identity.agent} has no network allowlist`);
    return allowlist;
  }

  /** Takes one of the sandbox's connection slots; the returned function gives it back (once). */
  function acquire(connection: Connection): () => void {
    const key = `${connection.agent}~${connection.sandbox}`;
    const held = perSandbox.get(key) ?? 0;
    if (held >= maxPerSandbox) refuse(429, `sandbox ${connection.sandbox} already has ${maxPerSandbox} open connections`);
    perSandbox.set(key, held + 1);
    active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      active -= 1;
      const left = (perSandbox.get(key) ?? 1) - 1;
      if (left === 0) perSandbox.delete(key);
      else perSandbox.set(key, left);
    };
  }

  /** The addresses to try: every one the name resolves to, each a destination sandboxes may reach. */
  async function destinations(host: string): Promise<string[]> {
    if (isIpLiteral(host)) {
      const address = host.replace(/^\[|\]$/g, '');
      const kind = classifyAddress(address);
      if (!reachable(kind)) refuse(403, `${host} is a ${kind} address, which sandboxes may not reach`);
      return [address];
    }
    let addresses: readonly string[];
    try {
      addresses = await withTimeout(resolve(host), connectTimeoutMs, () => new Failure({ status: 504, reason: `resolving ${host} timed out`, decision: 'failed' }));
    } catch (error) {
      if (error instanceof Failure) throw error;
      const code = (error as { code?: unknown }).code;
      return refuse(502, `cannot resolve ${host}${typeof code === 'string' ? ` (${code})` : ''}`, { decision: 'failed' });
    }
    if (addresses.length === 0) refuse(502, `${host} has no addresses`, { decision: 'failed' });
    // All or nothing: a name with any internal answer is refused outright, whichever answer a retry would get.
    for (const address of addresses) {
      const kind = classifyAddress(address);
      if (!reachable(kind)) refuse(403, `${host} resolves to ${address} (${kind}), which sandboxes may not reach`);
    }
    return [...addresses];
  }

  function reachable(kind: ReturnType<typeof classifyAddress>): boolean {
    return kind === 'global' || (kind === 'loopback' && options.allowLoopback === true);
  }

  /** Connects to the checked addresses in turn (an address family the VPC lacks fails fast). */
  async function open(host: string, port: number, addresses: string[]): Promise<Socket> {
    let lastError: unknown;
    for (const address of addresses) {
      const socket = connect(address, port);
      track(socket);
      try {
        await withTimeout(
          new Promise<void>((resolveConnect, rejectConnect) => {
            socket.once('connect', resolveConnect);
            socket.once('error', rejectConnect);
          }),
          connectTimeoutMs,
          () => new Failure({ status: 504, reason: `connecting to ${host}:${port} timed out`, decision: 'failed' }),
        );
        // From here the tunnel or the forwarded request handles errors; until then none may go unheard.
        socket.on('error', () => socket.destroy());
        return socket;
      } catch (error) {
        socket.destroy();
        if (error instanceof Failure) throw error;
        lastError = error;
      }
    }
    const code = (lastError as { code?: unknown } | undefined)?.code;
    return refuse(502, `cannot connect to ${host}:${port}${typeof code === 'string' ? ` (${code})` : ''}`, { decision: 'failed' });
  }

  /** Everything between a parsed request and an open upstream socket; a refusal throws Failure. */
  async function admit(connection: Connection, authorization: string | undefined, host: string, port: number): Promise<{ upstream: Socket; release: () => void }> {
    const allowlist = await authenticate(connection, authorization);
    const decision = checkEgress(allowlist, host, port);
    if (!decision.allowed) refuse(403, decision.reason);
    const release = acquire(connection);
    try {
      const addresses = await destinations(host);
      return { upstream: await open(host, port, addresses), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  // CONNECT host:port — a TCP tunnel (TLS runs end to end inside it).
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const connection = begin('CONNECT');
    client.on('error', () => client.destroy());
    const target = parseAuthority(req.url ?? '');
    if (!target) {
      finish(connection, 'denied', 400, 'CONNECT needs a host:port target');
      return writeRefusal(client, { status: 400, reason: 'CONNECT needs a host:port target' });
    }
    connection.host = target.host;
    connection.port = target.port;
    admit(connection, req.headers['proxy-authorization'], target.host, target.port).then(
      // A CONNECT request's stream is always the server's TCP socket.
      ({ upstream, release }) => tunnel(connection, client as Socket, upstream, head, release),
      (error: unknown) => {
        const refusal = refusalOf(error);
        finish(connection, refusal.decision ?? 'denied', refusal.status, refusal.reason);
        writeRefusal(client, refusal);
      },
    );
  });

  function tunnel(connection: Connection, client: Socket, upstream: Socket, head: Buffer, release: () => void): void {
    let closed = 0;
    let reason: string | undefined;
    const done = () => {
      closed += 1;
      if (closed < 2) return;
      release();
      finish(connection, 'allowed', 200, reason);
    };
    const cut = (why: string) => {
      reason ??= why;
      client.destroy();
      upstream.destroy();
    };
    if (client.destroyed || upstream.destroyed) {
      client.destroy();
      upstream.destroy();
      release();
      return finish(connection, 'failed', 502, 'a side closed before the tunnel opened');
    }
    client.once('close', done);
    upstream.once('close', done);
    upstream.on('error', () => cut('the destination reset the connection'));
    client.on('error', () => cut('the client reset the connection'));
    upstream.setTimeout(idleTimeoutMs, () => cut('idle timeout'));
    client.setTimeout(idleTimeoutMs, () => cut('idle timeout'));
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) {
      connection.bytesUp += head.length;
      upstream.write(head);
    }
    client.on('data', (chunk: Buffer) => (connection.bytesUp += chunk.length));
    upstream.on('data', (chunk: Buffer) => (connection.bytesDown += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  // GET http://host/path … — absolute-form plain HTTP, forwarded one request at a time.
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const connection = begin(req.method ?? 'GET');
    const reject = (refusal: Refusal) => {
      finish(connection, refusal.decision ?? 'denied', refusal.status, refusal.reason);
      if (res.headersSent) return res.destroy();
      res.writeHead(refusal.status, { 'content-type': 'text/plain; charset=utf-8', ...refusal.headers }).end(`${refusal.reason}\n`);
      // The body (if any) is not wanted; reading it keeps the connection usable for the next request.
      req.resume();
    };
    const url = parseAbsoluteUrl(req.url ?? '');
    if ('error' in url) return reject({ status: 400, reason: url.error });
    connection.host = url.host;
    connection.port = url.port;
    admit(connection, req.headers['proxy-authorization'], url.host, url.port).then(
      ({ upstream, release }) => forward(connection, req, res, url, upstream, release),
      (error: unknown) => reject(refusalOf(error)),
    );
  });

  function forward(connection: Connection, req: IncomingMessage, res: ServerResponse, url: AbsoluteUrl, upstream: Socket, release: () => void): void {
    const outgoing = httpRequest({
      method: req.method,
      path: url.path,
      headers: { ...forwardable(req.headersDistinct), host: url.authority },
      createConnection: () => upstream,
    });
    // Until the destination answers, any status is the proxy's own (502/504) and a failure.
    let status = 502;
    let answered = false;
    let reason: string | undefined;
    res.once('close', () => {
      if (!res.writableFinished) reason ??= 'the client went away';
      // The answer is complete or no longer wanted: nothing more is needed upstream.
      outgoing.destroy();
      upstream.destroy();
      release();
      finish(connection, answered ? 'allowed' : 'failed', status, reason);
    });
    outgoing.setTimeout(idleTimeoutMs, () => {
      reason ??= 'idle timeout';
      outgoing.destroy(new Error('idle timeout'));
    });
    outgoing.on('error', () => {
      if (res.headersSent) {
        reason ??= `${url.host} reset the connection`;
        return void res.destroy();
      }
      status = reason === 'idle timeout' ? 504 : 502;
      reason ??= `${url.host} closed the connection without an answer`;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${reason}\n`);
    });
    outgoing.on('response', (answer: IncomingMessage) => {
      answered = true;
      status = answer.statusCode ?? 502;
      res.writeHead(status, answer.statusMessage, forwardable(answer.headersDistinct));
      answer.on('data', (chunk: Buffer) => (connection.bytesDown += chunk.length));
      answer.on('error', () => res.destroy());
      answer.pipe(res);
    });
    req.on('data', (chunk: Buffer) => (connection.bytesUp += chunk.length));
    req.pipe(outgoing);
  }

  server.on('upgrade', (req: IncomingMessage, client: Duplex) => {
    const connection = begin(req.method ?? 'GET');
    client.on('error', () => client.destroy());
    const reason = 'protocol upgrades are not proxied; use CONNECT';
    finish(connection, 'denied', 400, reason);
    writeRefusal(client, { status: 400, reason });
  });

  server.on('clientError', (error: NodeJS.ErrnoException, client: Duplex) => {
    const code = error.code ?? '';
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : code.startsWith('HPE_') ? 400 : 0;
    // Resets and the like end a connection that never made a request: nothing to answer or log.
    if (status === 0 || !client.writable) return void client.destroy();
    const reason = status === 431 ? 'request headers too large' : status === 408 ? 'request headers not received in time' : 'malformed request';
    finish(begin('unknown'), 'denied', status, reason);
    writeRefusal(client, { status, reason });
  });

  server.on('connection', (socket: Socket) => track(socket));

  return {
    server,
    get active() {
      return active;
    },
    async listen(port, host) {
      await new Promise<void>((resolveListen, rejectListen) => {
        server.once('error', rejectListen);
        server.listen(port, host, () => {
          server.off('error', rejectListen);
          resolveListen();
        });
      });
      return server.address() as AddressInfo;
    },
    async close() {
      const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function refusalOf(error: unknown): Refusal {
  if (error instanceof Failure) return error.refusal;
  return { status: 502, reason: 'the egress proxy failed', decision: 'failed' };
}

/** A complete HTTP/1.1 answer on a raw socket (CONNECT and upgrade requests have no ServerResponse), then close. */
function writeRefusal(socket: Duplex, refusal: Refusal): void {
  if (!socket.writable) return void socket.destroy();
  const body = `${refusal.reason}\n`;
  const headers = Object.entries({
    ...refusal.headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Error'}\r\n${headers}\r\n${body}`);
}

/** `host:port` or `[v6]:port` (RFC 9110 authority-form; the port is required). */
export function parseAuthority(target: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/@?#%]+):(\d{1,5})$/.exec(target);
  if (!match) return undefined;
  const host = normalizeHost(match[1]!);
  const port = parsePort(match[2]!);
  return host === undefined || port === undefined ? undefined : { host, port };
}

interface AbsoluteUrl {
  /** Normalised, as the allowlist sees it. */
  host: string;
  port: number;
  /** What goes in the forwarded Host header. */
  authority: string;
  /** Origin-form path and query for the forwarded request line. */
  path: string;
}

function parseAbsoluteUrl(target: string): AbsoluteUrl | { error: string } {
  if (/^https:\/\//i.test(target)) return { error: 'https:// goes through CONNECT host:443, not an absolute-form request' };
  if (!/^http:\/\//i.test(target)) {
    return { error: 'this is an egress proxy: send CONNECT host:port or an absolute-form request (GET http://host/path)' };
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return { error: 'the request target is not a valid http:// URL' };
  }
  const host = normalizeHost(url.hostname);
  if (host === undefined) return { error: 'the request target has no valid host' };
  const port = url.port === '' ? 80 : Number(url.port);
  return { host, port, authority: url.port === '' ? host : `${host}:${port}`, path: `${url.pathname}${url.search}` };
}

/** Headers minus hop-by-hop ones and any the Connection header names. */
function forwardable(headers: NodeJS.Dict<string[]>): OutgoingHttpHeaders {
  const named = new Set((headers.connection ?? []).flatMap((value) => value.split(',').map((name) => name.trim().toLowerCase())));
  const out: OutgoingHttpHeaders = {};
  for (const [name, values] of Object.entries(headers)) {
    if (values === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = values.length === 1 ? values[0] : values;
  }
  return out;
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rejectTimeout) => {
    timer = setTimeout(() => rejectTimeout(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
