import { lookup } from 'node:dns/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { systemClock } from '../../core/ports/clock.ts';
import type { Clock } from '../../core/ports/clock.ts';
import { silentLogger } from '../../core/ports/logger.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { Admission, compileAllowlists, type Resolver } from './admission.ts';
import { connectionLog, type ConnectionLog } from './connection-log.ts';
import { parseAbsoluteUrl, parseAuthority, refusalOf, writeRefusal, type Refusal } from './http.ts';
import { forward, tunnel, type Relay } from './relay.ts';

/**
 * The egress proxy a sandbox on AWS reaches the network through (its security group
 * allows nothing else). It speaks HTTP CONNECT (for TLS) and absolute-form plain HTTP,
 * authenticates each request with the sandbox's egress credentials (Basic
 * `<agent>~<sandboxId>:<egressToken>`), applies that agent's allowlist, resolves the
 * name itself and connects only to the global address it checked, so neither a
 * private/metadata address nor a DNS answer that changes between check and use gets
 * through. One JSON log line per connection, without paths, headers or bodies.
 */

export type { Resolver } from './admission.ts';

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

const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, order: 'verbatim' })).map((entry) => entry.address);

/** What the server's handlers share: who is admitted, how bytes move, and the log. */
interface Proxying extends Relay {
  readonly admission: Admission;
  readonly log: ConnectionLog;
}

export function createEgressProxy(options: EgressProxyOptions): EgressProxy {
  const admission = new Admission({
    allowlists: compileAllowlists(options.allowlists),
    signingKey: options.signingKey,
    resolve: options.resolve ?? systemResolver,
    connect: options.connect ?? ((address, port) => netConnect({ host: address, port, allowHalfOpen: true })),
    log: options.log ?? silentLogger,
    allowLoopback: options.allowLoopback === true,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    maxConnectionsPerSandbox: options.maxConnectionsPerSandbox ?? 64,
  });
  const idleTimeoutMs = options.idleTimeoutMs ?? 5 * 60_000;
  const proxying: Proxying = {
    admission,
    idleTimeoutMs,
    log: connectionLog(options.clock ?? systemClock, options.log ?? silentLogger),
  };

  const server = createServer({ maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024, requestTimeout: 0 });
  // A forwarded request may upload for as long as bytes keep moving; idleness is what ends it.
  server.timeout = idleTimeoutMs;
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => onConnect(proxying, req, client, head));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => onRequest(proxying, req, res));
  server.on('upgrade', (req: IncomingMessage, client: Duplex) => onUpgrade(proxying, req, client));
  server.on('clientError', (error: NodeJS.ErrnoException, client: Duplex) => onClientError(proxying, error, client));
  server.on('connection', (socket: Socket) => admission.track(socket));

  return {
    server,
    get active() {
      return admission.active;
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
      for (const socket of admission.sockets) socket.destroy();
      await closed;
    },
  };
}

/** CONNECT host:port — a TCP tunnel (TLS runs end to end inside it). */
function onConnect(proxying: Proxying, req: IncomingMessage, client: Duplex, head: Buffer): void {
  const connection = proxying.log.begin('CONNECT');
  client.on('error', () => client.destroy());
  const target = parseAuthority(req.url ?? '');
  if (!target) {
    proxying.log.finish(connection, 'denied', 400, 'CONNECT needs a host:port target');
    writeRefusal(client, { status: 400, reason: 'CONNECT needs a host:port target' });
    return;
  }
  connection.host = target.host;
  connection.port = target.port;
  proxying.admission.admit(connection, req.headers['proxy-authorization'], target.host, target.port).then(
    // A CONNECT request's stream is always the server's TCP socket.
    ({ upstream, release }) => tunnel(proxying, connection, client as Socket, upstream, head, release),
    (error: unknown) => {
      const refusal = refusalOf(error);
      proxying.log.finish(connection, refusal.decision ?? 'denied', refusal.status, refusal.reason);
      writeRefusal(client, refusal);
    },
  );
}

/** GET http://host/path … — absolute-form plain HTTP, forwarded one request at a time. */
function onRequest(proxying: Proxying, req: IncomingMessage, res: ServerResponse): void {
  const connection = proxying.log.begin(req.method ?? 'GET');
  const reject = (refusal: Refusal) => {
    proxying.log.finish(connection, refusal.decision ?? 'denied', refusal.status, refusal.reason);
    if (res.headersSent) return res.destroy();
    const headers = { 'content-type': 'text/plain; charset=utf-8', ...refusal.headers };
    res.writeHead(refusal.status, headers).end(`${refusal.reason}\n`);
    // The body (if any) is not wanted; reading it keeps the connection usable for the next request.
    req.resume();
  };
  const url = parseAbsoluteUrl(req.url ?? '');
  if ('error' in url) return void reject({ status: 400, reason: url.error });
  connection.host = url.host;
  connection.port = url.port;
  proxying.admission.admit(connection, req.headers['proxy-authorization'], url.host, url.port).then(
    ({ upstream, release }) => forward(proxying, connection, { req, res, url }, upstream, release),
    (error: unknown) => reject(refusalOf(error)),
  );
}

function onUpgrade(proxying: Proxying, req: IncomingMessage, client: Duplex): void {
  const connection = proxying.log.begin(req.method ?? 'GET');
  client.on('error', () => client.destroy());
  const reason = 'protocol upgrades are not proxied; use CONNECT';
  proxying.log.finish(connection, 'denied', 400, reason);
  writeRefusal(client, { status: 400, reason });
}

function onClientError(proxying: Proxying, error: NodeJS.ErrnoException, client: Duplex): void {
  const code = error.code ?? '';
  const status =
    code === 'HPE_HEADER_OVERFLOW'
      ? 431
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 408
        : code.startsWith('HPE_')
          ? 400
          : 0;
  // Resets and the like end a connection that never made a request: nothing to answer or log.
  if (status === 0 || !client.writable) return void client.destroy();
  const reason =
    status === 431
      ? 'request headers too large'
      : status === 408
        ? 'request headers not received in time'
        : 'malformed request';
  proxying.log.finish(proxying.log.begin('unknown'), 'denied', status, reason);
  writeRefusal(client, { status, reason });
}
