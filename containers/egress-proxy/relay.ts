import { request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Connection, ConnectionLog } from './connection-log.ts';
import { forwardable, type AbsoluteUrl } from './http.ts';

/** Moving bytes once a connection is admitted: a CONNECT tunnel, or one forwarded plain-HTTP request. */

export interface Relay {
  readonly log: ConnectionLog;
  /** A tunnel or forwarded request with no bytes either way for this long is closed. */
  readonly idleTimeoutMs: number;
}

/** Pipes both ways until either side closes; the slot is released and the line logged once both have. */
export function tunnel(
  relay: Relay,
  connection: Connection,
  client: Socket,
  upstream: Socket,
  head: Buffer,
  release: () => void,
): void {
  let closed = 0;
  let reason: string | undefined;
  const done = () => {
    closed += 1;
    if (closed < 2) return;
    release();
    relay.log.finish(connection, 'allowed', 200, reason);
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
    relay.log.finish(connection, 'failed', 502, 'a side closed before the tunnel opened');
    return;
  }
  client.once('close', done);
  upstream.once('close', done);
  upstream.on('error', () => cut('the destination reset the connection'));
  client.on('error', () => cut('the client reset the connection'));
  upstream.setTimeout(relay.idleTimeoutMs, () => cut('idle timeout'));
  client.setTimeout(relay.idleTimeoutMs, () => cut('idle timeout'));
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

/** Sends the request over the checked upstream socket and streams the answer back. */
export function forward(
  relay: Relay,
  connection: Connection,
  exchange: { req: IncomingMessage; res: ServerResponse; url: AbsoluteUrl },
  upstream: Socket,
  release: () => void,
): void {
  const { req, res, url } = exchange;
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
    relay.log.finish(connection, answered ? 'allowed' : 'failed', status, reason);
  });
  outgoing.setTimeout(relay.idleTimeoutMs, () => {
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
