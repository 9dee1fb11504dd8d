import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';

/**
 * The reference "everything" MCP server from npm in Streamable HTTP mode, on 127.0.0.1:
 * the remote server the tests reach over http (test/integration/mcp-gateway.test.ts, and
 * test/box/http-mcp.test.ts from a deployed step).
 */

const projectRoot = resolve(import.meta.dirname, '../..');
const everythingEntry = join(projectRoot, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

/** Makes `listen(port)` bind 127.0.0.1 instead of every interface (server-everything passes no host). */
export const LOOPBACK_ONLY =
  'data:text/javascript,' +
  encodeURIComponent(`
    import net from 'node:net';
    const listen = net.Server.prototype.listen;
    net.Server.prototype.listen = function (...args) {
      if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^[0-9]+$/.test(args[0]))) args.splice(1, 0, '127.0.0.1');
      return listen.apply(this, args);
    };
  `);

/** A port nothing listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** server-everything in Streamable HTTP mode on 127.0.0.1:port, resolved once it listens. */
export async function startEverythingHttp(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', LOOPBACK_ONLY, everythingEntry, 'streamableHttp'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((ready, fail) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('listening on port')) ready();
    });
    child.once('exit', (code) => fail(new Error(`server-everything exited (${code}): ${stderr}`)));
  });
  return child;
}
