import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  type StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import { ConfigurationError, ToolTimeoutError, ToolUnavailableError, errorMessage } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { ToolCallOptions, ToolCallResult, ToolDescriptor, ToolGateway } from '../../core/ports/tools.ts';
import {
  type Connection,
  LineTail,
  STDERR_LINES,
  callTimeoutMs,
  declarationKey,
  stderrTail,
} from './mcp-connection.ts';
import { knownValueRedactor } from '../../core/guardrails/redact-known.ts';
import { renderContent, toDescriptor } from './mcp-content.ts';
import { outputSchemas } from './output-schemas.ts';
import {
  describeCause,
  describeMalformed,
  firstLine,
  formatMs,
  isConnectionClosed,
  isLocalMcpError,
  isMalformed,
  isMissingProgram,
  isTimeout,
  stripMcpPrefix,
  withDeadline,
} from './mcp-errors.ts';
import { type TransportContext, httpTransport, stdioTransport } from './mcp-transports.ts';

/**
 * The MCP servers a process connects to itself, over stdio (a child process per server) and
 * Streamable HTTP: the MCP SDK's client, loaded by mcp-gateway.ts only when a server is not
 * invoked on a host. One connection per declared server is kept open and shared by every
 * caller; a connection that dies is forgotten and the next use opens a fresh one.
 */

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** How long a liveness ping may take before an HTTP server is declared gone. */
const PING_TIMEOUT_MS = 2_000;

export interface McpConnectionOptions {
  secrets: SecretStore;
  /** Where node_modules/.bin and relative `cwd`s are found. Defaults to the current directory. */
  projectRoot?: string;
  /** Runtime-owned state: replaces `${LOOPRAIL_STATE_DIR}` in stdio commands, args, env and cwd. */
  stateDir?: string;
  clientInfo?: { name: string; version: string };
  /** Operational lines (connects, drops). Never receives secret values. */
  logger?: (line: string) => void;
}

/** ToolCallOptions plus an optional caller cancellation. */
export interface McpToolCallOptions extends ToolCallOptions {
  signal?: AbortSignal;
}

interface PoolEntry {
  /** A hash of what the connection was made from, so a changed declaration reconnects. */
  key: string;
  ready: Promise<Connection>;
  /** Set once `ready` resolves. */
  conn: Connection | undefined;
}

export class McpDirectConnections implements ToolGateway {
  readonly #transports: TransportContext;
  readonly #clientInfo: { name: string; version: string };
  readonly #log: (line: string) => void;
  /** Keyed by server name: at most one connection (or connect in flight) per server. */
  readonly #pool = new Map<string, PoolEntry>();
  #closed = false;

  constructor(options: McpConnectionOptions) {
    this.#clientInfo = options.clientInfo ?? { name: 'looprail', version: '0.1.0' };
    this.#log = options.logger ?? (() => {});
    this.#transports = {
      secrets: options.secrets,
      projectRoot: resolve(options.projectRoot ?? process.cwd()),
      stateDir: options.stateDir === undefined ? undefined : resolve(options.stateDir),
      log: this.#log,
    };
  }

  async listTools(server: McpServerDeclaration): Promise<ToolDescriptor[]> {
    const conn = await this.#connection(server);
    const timeoutMs = callTimeoutMs(server);
    const tools: ToolDescriptor[] = [];
    let cursor: string | undefined;
    try {
      do {
        const page = await conn.client.listTools(cursor === undefined ? {} : { cursor }, { timeout: timeoutMs });
        tools.push(...page.tools.map(toDescriptor));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    } catch (error) {
      throw this.#callFailure(conn, error, 'tools/list', timeoutMs);
    }
    return tools;
  }

  async callTool(
    server: McpServerDeclaration,
    tool: string,
    args: Record<string, unknown>,
    options?: McpToolCallOptions,
  ): Promise<ToolCallResult> {
    const timeoutMs = options?.timeoutMs ?? callTimeoutMs(server);
    const conn = await this.#connection(server);
    try {
      const result = (await conn.client.callTool({ name: tool, arguments: args }, undefined, {
        timeout: timeoutMs,
        maxTotalTimeout: timeoutMs,
        ...(options?.signal ? { signal: options.signal } : {}),
      })) as CallToolResult;
      return { content: conn.redact(renderContent(result)), isError: result.isError === true };
    } catch (error) {
      if (options?.signal?.aborted) throw options.signal.reason;
      // A JSON-RPC error is the server's answer about this call (unknown tool, bad
      // arguments): the model can read it and correct itself, so it is data, not a failure.
      if (error instanceof McpError && !isLocalMcpError(error) && conn.brokenBecause === undefined) {
        return { content: conn.redact(`MCP error ${error.code}: ${stripMcpPrefix(error.message)}`), isError: true };
      }
      throw this.#callFailure(conn, error, tool, timeoutMs);
    }
  }

  /** Closes every connection and stops every stdio child. Safe to call more than once. */
  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#pool.values()];
    this.#pool.clear();
    await Promise.all(
      entries.map(async (entry) => {
        const conn = await entry.ready.catch(() => undefined);
        if (conn) await this.#shutdown(conn, 'gateway closed');
      }),
    );
  }

  // --- the pool -------------------------------------------------------------------------

  /** The live connection for this declaration, connecting (once, however many callers wait) if needed. */
  async #connection(server: McpServerDeclaration): Promise<Connection> {
    // Twice at most: a pooled connection may have died a moment ago; a fresh one that is
    // already dead again is reported, not retried forever.
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new Error('the MCP connections are closed');
      const conn = await this.#pooled(server);
      if (this.#closed) {
        // close() ran while we were connecting: do not leak the child it could not see.
        await this.#shutdown(conn, 'gateway closed');
        throw new Error('the MCP connections are closed');
      }
      if (conn.brokenBecause === undefined || attempt > 0) return conn;
      this.#forget(conn);
    }
  }

  #pooled(server: McpServerDeclaration): Promise<Connection> {
    const key = declarationKey(server);
    const existing = this.#pool.get(server.name);
    if (existing && existing.key === key) return existing.ready;
    if (existing) {
      // The declaration changed (new command, url or secret): the old connection is stale.
      this.#pool.delete(server.name);
      void existing.ready.then(
        (conn) => this.#shutdown(conn, 'declaration changed'),
        () => {},
      );
    }
    const entry: PoolEntry = { key, ready: this.#connect(server), conn: undefined };
    this.#pool.set(server.name, entry);
    entry.ready.then(
      (conn) => (entry.conn = conn),
      () => {
        if (this.#pool.get(server.name) === entry) this.#pool.delete(server.name);
      },
    );
    return entry.ready;
  }

  /** Forgets the connection (so the next use reconnects) and closes it; pending calls fail. */
  #breakConnection(conn: Connection, reason: string): void {
    if (conn.brokenBecause !== undefined) return;
    conn.brokenBecause = conn.redact(reason);
    this.#forget(conn);
    this.#log(`mcp: ${conn.server}: connection dropped: ${conn.brokenBecause}`);
    void conn.client.close().catch(() => {});
  }

  #forget(conn: Connection): void {
    // Only remove the entry if it still holds this connection, not a newer one.
    if (this.#pool.get(conn.server)?.conn === conn) this.#pool.delete(conn.server);
  }

  #shutdown(conn: Connection, reason: string): Promise<void> {
    conn.stopping ??= (async () => {
      const wasLive = conn.brokenBecause === undefined;
      conn.brokenBecause ??= reason;
      if (wasLive && conn.kind === 'http') {
        // Politely end the server-side session; a server that is gone cannot object.
        const http = conn.transport as StreamableHTTPClientTransport;
        await withDeadline(http.terminateSession(), 1_000).catch(() => {});
      }
      await conn.client.close().catch(() => {});
      this.#log(`mcp: ${conn.server}: closed (${reason})`);
    })();
    return conn.stopping;
  }

  // --- connecting -----------------------------------------------------------------------

  async #connect(server: McpServerDeclaration): Promise<Connection> {
    const started = performance.now();
    // looprail's own servers (the sandbox) are served in-process by the run, never over MCP.
    if (server.transport.type === 'builtin')
      throw new ConfigurationError(`"${server.name}" is served by looprail itself, not over MCP`);
    // Secrets first: a missing one is a SecretNotFoundError that names it, not an outage.
    const secretValues: string[] = [];
    const transport =
      server.transport.type === 'stdio'
        ? await stdioTransport(this.#transports, server, server.transport, secretValues)
        : await httpTransport(this.#transports, server, server.transport.url, secretValues);

    const conn: Connection = {
      server: server.name,
      kind: server.transport.type,
      client: new Client(this.#clientInfo, { capabilities: {}, jsonSchemaValidator: outputSchemas }),
      transport,
      pid: null,
      stderr: new LineTail(STDERR_LINES),
      // The server's own secrets in every encoding it may echo them in (raw, JSON-escaped, URL, base64).
      redact: knownValueRedactor(secretValues).redact,
      connected: false,
      probing: false,
    };
    this.#watch(conn);

    const connectMs = (server.timeouts.connect ?? DEFAULT_CONNECT_TIMEOUT_MS / 1000) * 1000;
    try {
      await withDeadline(conn.client.connect(transport, { timeout: connectMs }), connectMs);
    } catch (error) {
      const failure = this.#connectFailure(conn, server, error, connectMs);
      conn.brokenBecause ??= 'connect failed';
      await conn.client.close().catch(() => {}); // also stops a child that did start
      throw failure;
    }
    conn.connected = true;
    if (transport instanceof StdioClientTransport) conn.pid = transport.pid;
    const where = conn.pid === null ? 'over Streamable HTTP' : `over stdio (pid ${conn.pid})`;
    this.#log(`mcp: ${server.name}: connected ${where} in ${Math.round(performance.now() - started)} ms`);
    return conn;
  }

  /**
   * Hooks the transport's own close and error events (installed before Client.connect,
   * which chains them) so protocol-level noise such as a late answer to a timed-out
   * request does not count as a broken connection.
   */
  #watch(conn: Connection): void {
    const transport = conn.transport;
    if (transport instanceof StdioClientTransport) {
      transport.stderr?.on('data', (chunk: Buffer) => conn.stderr.push(chunk.toString('utf8')));
    }
    transport.onclose = () => {
      if (conn.brokenBecause === undefined) {
        conn.brokenBecause = conn.kind === 'stdio' ? 'the server process exited' : 'the connection closed';
        this.#forget(conn);
        this.#log(`mcp: ${conn.server}: ${conn.brokenBecause}`);
      }
    };
    transport.onerror = (error: Error) => this.#onTransportError(conn, error);
  }

  #onTransportError(conn: Connection, error: Error): void {
    if (conn.brokenBecause !== undefined) return;
    const message = conn.redact(errorMessage(error));
    if (isMalformed(error)) {
      // The stdio spec says a server MUST NOT write anything but MCP messages to stdout;
      // one that does cannot be trusted to stay in step, so fail fast instead of hanging.
      this.#breakConnection(
        conn,
        `sent a message that is not valid JSON-RPC (${conn.redact(describeMalformed(error))})`,
      );
    } else if (!conn.connected) {
      // Still connecting: the connect attempt reports this failure itself.
      if (conn.kind === 'stdio') this.#breakConnection(conn, firstLine(message));
    } else if (conn.kind === 'stdio') {
      // stdin/stdout errors on a pipe mean the process is gone or going.
      this.#breakConnection(conn, `transport error: ${firstLine(message)}`);
    } else {
      // An HTTP stream error is ambiguous (an idle proxy cut it, or the server died):
      // ask the server whether it is still there.
      this.#log(`mcp: ${conn.server}: transport error: ${firstLine(message)}`);
      void this.#probe(conn);
    }
  }

  async #probe(conn: Connection): Promise<void> {
    if (conn.probing || conn.brokenBecause !== undefined) return;
    conn.probing = true;
    try {
      await conn.client.ping({ timeout: PING_TIMEOUT_MS });
    } catch (error) {
      this.#breakConnection(conn, `the server stopped answering (${firstLine(errorMessage(error))})`);
    } finally {
      conn.probing = false;
    }
  }

  // --- errors ---------------------------------------------------------------------------

  #connectFailure(conn: Connection, server: McpServerDeclaration, error: unknown, connectMs: number): Error {
    if (error instanceof StreamableHTTPError && (error.code === 401 || error.code === 403)) {
      // Retrying with the same credentials (or none) cannot help: this needs a person.
      return new ConfigurationError(
        server.auth
          ? `MCP server "${server.name}" refused our credentials (HTTP ${error.code}); check the secret "${server.auth.secret}"`
          : `MCP server "${server.name}" asks for credentials (HTTP ${error.code}) and none are declared: add auth: { secret: <name> } to mcp-servers/${server.name}.yaml (the secret's name in secrets.yaml, its value in the secret store)`,
      );
    }
    if (server.transport.type === 'stdio' && isMissingProgram(error)) {
      // Retrying cannot make a program appear: a permanent configuration error, not an outage.
      return new ConfigurationError(
        conn.redact(
          `MCP server "${server.name}": could not start "${server.transport.command}": ${describeCause(error)}. ` +
            `Fix transport.command (or cwd) in mcp-servers/${server.name}.yaml: the bin of an installed npm package ` +
            '(npm install <package>), or a .js file of the project; `looprail validate` checks it',
        ),
      );
    }
    const target =
      server.transport.type === 'stdio'
        ? `start "${server.transport.command}"`
        : server.transport.type === 'http'
          ? `reach ${server.transport.url}`
          : 'serve it';
    const why = isTimeout(error)
      ? `no answer within ${formatMs(connectMs)}`
      : isConnectionClosed(error) && conn.brokenBecause !== undefined
        ? conn.brokenBecause
        : describeCause(error);
    return new ToolUnavailableError(
      conn.redact(`MCP server "${server.name}": could not ${target}: ${why}${stderrTail(conn)}`),
    );
  }

  /** Maps a failed request to the typed error the state machine understands. */
  #callFailure(conn: Connection, error: unknown, what: string, timeoutMs: number): Error {
    if (conn.brokenBecause === undefined && isTimeout(error)) {
      return new ToolTimeoutError(`MCP tool "${conn.server}/${what}" did not answer within ${formatMs(timeoutMs)}`);
    }
    if (conn.brokenBecause === undefined && isMalformed(error)) {
      // One bad answer; the connection itself may still be fine.
      return new ToolUnavailableError(
        conn.redact(`MCP server "${conn.server}" answered ${what} outside the protocol: ${describeMalformed(error)}`),
      );
    }
    if (conn.brokenBecause === undefined && error instanceof McpError && !isLocalMcpError(error)) {
      // The server is there and answering; it just refused this request.
      return new ToolUnavailableError(conn.redact(`MCP server "${conn.server}" refused ${what}: ${error.message}`));
    }
    // Anything else (refused, reset, closed, HTTP error) leaves the connection in an
    // unknown state: drop it so the next call starts afresh.
    this.#breakConnection(conn, describeCause(error));
    return new ToolUnavailableError(
      conn.redact(`MCP server "${conn.server}" is unavailable (${what}): ${conn.brokenBecause}${stderrTail(conn)}`),
    );
  }
}
