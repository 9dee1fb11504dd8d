import type { OutgoingHttpHeaders } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { normalizeHost, parsePort } from '../../core/sandbox/egress-allowlist.ts';

/** The HTTP wire pieces of the egress proxy: refusals, request targets and forwarded headers. */

/** Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus the proxy's own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export type Decision = 'allowed' | 'denied' | 'failed';

export interface Refusal {
  status: number;
  reason: string;
  decision?: Decision;
  headers?: Record<string, string>;
}

/** A refusal thrown from anywhere between a parsed request and an open upstream socket. */
export class Failure extends Error {
  readonly refusal: Refusal;
  constructor(refusal: Refusal) {
    super(refusal.reason);
    this.refusal = refusal;
  }
}

export function refuse(status: number, reason: string, extra: Partial<Refusal> = {}): never {
  throw new Failure({ status, reason, ...extra });
}

export function refusalOf(error: unknown): Refusal {
  if (error instanceof Failure) return error.refusal;
  return { status: 502, reason: 'the egress proxy failed', decision: 'failed' };
}

/** A complete HTTP/1.1 answer on a raw socket (CONNECT and upgrade requests have no ServerResponse), then close. */
export function writeRefusal(socket: Duplex, refusal: Refusal): void {
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

export interface AbsoluteUrl {
  /** Normalised, as the allowlist sees it. */
  host: string;
  port: number;
  /** What goes in the forwarded Host header. */
  authority: string;
  /** Origin-form path and query for the forwarded request line. */
  path: string;
}

export function parseAbsoluteUrl(target: string): AbsoluteUrl | { error: string } {
  if (/^https:\/\//i.test(target)) {
    return { error: 'https:// goes through CONNECT host:443, not an absolute-form request' };
  }
  if (!/^http:\/\//i.test(target)) {
    const expected = 'CONNECT host:port or an absolute-form request (GET http://host/path)';
    return { error: `this is an egress proxy: send ${expected}` };
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
export function forwardable(headers: NodeJS.Dict<string[]>): OutgoingHttpHeaders {
  const connection = headers.connection ?? [];
  const named = new Set(connection.flatMap((value) => value.split(',').map((name) => name.trim().toLowerCase())));
  const out: OutgoingHttpHeaders = {};
  for (const [name, values] of Object.entries(headers)) {
    if (values === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = values.length === 1 ? values[0] : values;
  }
  return out;
}

export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rejectTimeout) => {
    timer = setTimeout(() => rejectTimeout(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
