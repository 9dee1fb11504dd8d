import { createHash } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import { callTimeoutSeconds } from '../../core/definitions/server-timeouts.ts';

/** One pooled connection to an MCP server, and what it keeps for error messages. */

export const STDERR_LINES = 50;
const MAX_STDERR_LINE = 500;

export interface Connection {
  server: string;
  kind: 'stdio' | 'http';
  client: Client;
  transport: Transport;
  pid: number | null;
  stderr: LineTail;
  redact: (text: string) => string;
  /** Set once the connection is unusable; the reason is what callers are told. */
  brokenBecause?: string;
  /** The initialize handshake finished; errors before that belong to the connect attempt. */
  connected: boolean;
  probing: boolean;
  stopping?: Promise<void>;
}

/** Pool key: only what changes how we connect (not tool flags or descriptions). */
export function declarationKey(server: McpServerDeclaration): string {
  const relevant = { transport: server.transport, auth: server.auth ?? null, connect: server.timeouts.connect ?? null };
  return createHash('sha256').update(stableJson(relevant)).digest('hex').slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function stderrTail(conn: Connection): string {
  const lines = conn.stderr.lines();
  return lines.length === 0 ? '' : `\n--- last ${lines.length} lines of the server's stderr ---\n${lines.join('\n')}`;
}

/** The last N lines of a stream, for error messages. */
export class LineTail {
  readonly #max: number;
  readonly #lines: string[] = [];
  #partial = '';

  constructor(max: number) {
    this.#max = max;
  }

  push(chunk: string): void {
    const pieces = (this.#partial + chunk).split(/\r?\n/);
    this.#partial = pieces.pop() ?? '';
    for (const line of pieces) this.#add(line);
    if (this.#partial.length > MAX_STDERR_LINE) {
      this.#add(this.#partial);
      this.#partial = '';
    }
  }

  lines(): string[] {
    return this.#partial ? [...this.#lines, this.#partial] : [...this.#lines];
  }

  #add(line: string): void {
    if (line.trim() === '') return;
    this.#lines.push(line.length > MAX_STDERR_LINE ? `${line.slice(0, MAX_STDERR_LINE)}…` : line);
    if (this.#lines.length > this.#max) this.#lines.shift();
  }
}

/** How long one call to this server may take (core/definitions/server-timeouts.ts), in ms. */
export function callTimeoutMs(server: McpServerDeclaration): number {
  return callTimeoutSeconds(server) * 1000;
}
