import { once } from 'node:events';
import { createServer as createHttp1, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { type AddressInfo, createServer as createTcp, type Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * One port on 127.0.0.1 that speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge), as AWS
 * endpoints do: most SDK clients use HTTP/1.1, Bedrock Runtime's uses HTTP/2. Each connection
 * goes to the server its first bytes name (the HTTP/2 preface, or anything else).
 */

export type DualRequest = IncomingMessage | Http2ServerRequest;
export type DualResponse = ServerResponse | Http2ServerResponse;

const PREFACE = 'PRI * HTTP/2.0';

export async function listenHttp1And2(
  handler: (req: DualRequest, res: DualResponse) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const http1 = createHttp1(handler);
  const http2 = createHttp2(handler);
  const sockets = new Set<Socket>();
  const tcp = createTcp((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      if (first.toString('latin1', 0, PREFACE.length) === PREFACE) {
        http2.emit('connection', replay(socket, first));
      } else {
        socket.unshift(first);
        http1.emit('connection', socket);
      }
      socket.resume();
    });
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  return {
    url: `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      http1.close();
      http2.close();
      tcp.close();
      await once(tcp, 'close').catch(() => undefined);
    },
  };
}

/**
 * The socket as a plain stream that first replays the bytes already read: the HTTP/2 session reads
 * a net.Socket's handle directly (bytes put back with unshift would be lost), a plain stream it reads as a stream.
 */
function replay(socket: Socket, first: Buffer): Duplex {
  const stream = new Duplex({
    read() {},
    write(chunk, _encoding, done) {
      socket.write(chunk, done);
    },
    final(done) {
      socket.end();
      done();
    },
  });
  stream.push(first);
  socket.on('data', (chunk) => stream.push(chunk));
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  stream.on('close', () => socket.destroy());
  return stream;
}

/** Writes an answer on either protocol's response. */
export function respond(
  res: DualResponse,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
): void {
  const writable = res as {
    writeHead(status: number, headers: Record<string, string>): unknown;
    end(body: string | Buffer): unknown;
  };
  writable.writeHead(status, headers);
  writable.end(body);
}
