import { agentEntry } from '../../core/definitions/catalog.ts';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../http/listen.ts';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  isInitializeRequest,
  isJSONRPCRequest,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type InitializeRequest,
  type JSONRPCRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { jsonTextDepthProblem, MAX_BODY_DEPTH } from '../../core/limits/json-shape.ts';
import type { ToolSpec } from '../../core/definitions/context.ts';
import { errorMessage, NotFoundError, ValidationError } from '../../core/errors.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { closeToolSession, openToolSession, sessionToolCall } from '../../core/run/tool-session.ts';

/**
 * The gateway as an MCP server: one Streamable HTTP endpoint that serves one agent's view
 * of its tools to an interactive client (a laptop agent). Each MCP session is a tool
 * session in the core, recorded as a run, so every call gets the grants, flags, schema
 * checks, side-effect claims and trace a deployed loop's calls get.
 *
 * Security: it listens on 127.0.0.1 and every request needs the bearer token. A web page
 * cannot use it through DNS rebinding or cross-origin requests: it cannot know the token,
 * and a request carrying an Authorization header needs a CORS preflight that this server
 * never grants.
 */

export const MCP_PATH = '/mcp';
/** Tool call arguments are small; a bigger body is a mistake or an attack, refused before parsing. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** trigger.detail holds the client's self-reported name: untrusted, so kept short. */
const MAX_CLIENT_LABEL = 120;
const SERVER_INFO = { name: 'looprail-gateway', version: '0.1.0' };
/**
 * Clients often leave without a DELETE (a CLI that exits, a laptop that sleeps). Their
 * sessions would stay open runs forever, so a session idle this long is closed; a client
 * that comes back gets 404 and, as the transport spec says, starts a new session.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;
const MAX_SWEEP_INTERVAL_MS = 60_000;

export interface GatewayServerOptions {
  deps: RunDeps;
  /** The agent whose grants every session gets. */
  agent: string;
  /** Who the sessions act for: recorded on every session run. */
  principal: string;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Every request must carry `Authorization: Bearer <token>`. */
  token: string;
  /** Operational lines: sessions opened and closed, failures. Never receives the token. */
  log?: (line: string) => void;
  /** A session with no request for this long is closed; 0 never closes one. Defaults to DEFAULT_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
}

export interface GatewayServer {
  /** The MCP endpoint, e.g. `http://127.0.0.1:4567/mcp`. */
  url: string;
  /** Stops accepting requests and closes every open session (each run ends `completed`). */
  close(): Promise<void>;
}

export async function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  if (!options.token) throw new ValidationError('the MCP gateway needs a non-empty token');
  await assertServable(options.deps, options.agent);
  const gateway = new Gateway(options);
  const http = createServer((req, res) => void gateway.handle(req, res));
  const host = options.host ?? '127.0.0.1';
  let address: AddressInfo;
  try {
    address = await listen(http, host, options.port ?? 0);
  } catch (error) {
    await gateway.close(http);
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}${MCP_PATH}`,
    close: () => (closing ??= gateway.close(http)),
  };
}

/** Fails at start, not at the first client, when the agent cannot be served. */
async function assertServable(deps: RunDeps, agent: string): Promise<void> {
  const catalog = await deps.catalog();
  const entry = agentEntry(catalog, agent);
  if (!entry)
    throw new NotFoundError(
      `unknown agent "${agent}" (known: ${Object.keys(catalog.agents).sort().join(', ') || 'none'})`,
    );
  if (!entry.spec.enabled) throw new ValidationError(`agent "${agent}" is paused (enabled: false)`);
}

/** One MCP session: its transport and protocol server, and the tool session run behind it. */
interface Session {
  runId: string;
  /** The listing, built once: the run's snapshot never changes. */
  tools: Tool[];
  transport: StreamableHTTPServerTransport;
  server: Server;
  /** Set once the transport assigned it (the initialize request was accepted). */
  mcpSessionId?: string;
  /** The tail of the session's call chain: calls of one session run one at a time. */
  calls: Promise<unknown>;
  callCount: number;
  /** Calls accepted and not yet answered: a session waiting on a slow tool is not idle. */
  pendingCalls: number;
  /** When the client last sent a request for this session (ms since the epoch). */
  lastSeen: number;
  /** Set once the session started to end; ending is idempotent. */
  ending?: Promise<void>;
}

class Gateway {
  readonly #deps: RunDeps;
  readonly #agent: string;
  readonly #principal: string;
  readonly #tokenDigest: Buffer;
  readonly #log: (line: string) => void;
  /** Sessions by MCP session id, once initialized. */
  readonly #byId = new Map<string, Session>();
  /** Every session with an open run, initialized or not, so closing the gateway ends them all. */
  readonly #live = new Set<Session>();
  /** Initialize requests still opening their session: closing the gateway waits for them. */
  readonly #opening = new Set<Promise<void>>();
  readonly #idleTimeoutMs: number;
  readonly #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: GatewayServerOptions) {
    this.#deps = options.deps;
    this.#agent = options.agent;
    this.#principal = options.principal;
    this.#tokenDigest = digest(options.token);
    this.#log = options.log ?? (() => {});
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    if (this.#idleTimeoutMs > 0) {
      const interval = Math.max(10, Math.min(this.#idleTimeoutMs / 2, MAX_SWEEP_INTERVAL_MS));
      // unref: the sweep alone never keeps the process alive.
      this.#sweeper = setInterval(() => this.#closeIdle(), interval).unref();
    }
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.#route(req, res);
    } catch (error) {
      this.#log(`mcp-gateway: ${req.method} ${req.url} failed: ${errorMessage(error)}`);
      if (!res.headersSent) sendError(res, 500, ErrorCode.InternalError, `the gateway failed: ${errorMessage(error)}`);
      else res.end();
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Authentication comes first, so nothing about the endpoint shows without the token.
    if (!this.#authorized(req.headers.authorization)) return sendUnauthorized(res);
    if (this.#closed) return sendError(res, 503, ErrorCode.ConnectionClosed, 'the gateway is shutting down');
    if (new URL(req.url ?? '/', 'http://gateway').pathname !== MCP_PATH) {
      return sendError(res, 404, ErrorCode.InvalidRequest, `not found: the MCP endpoint is ${MCP_PATH}`);
    }
    if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
      res.setHeader('Allow', 'GET, POST, DELETE');
      return sendError(res, 405, ErrorCode.InvalidRequest, `method ${req.method} is not allowed on ${MCP_PATH}`);
    }
    let body: unknown;
    if (req.method === 'POST') {
      const read = await readJsonBody(req);
      if (!read.ok) return sendError(res, read.status, read.code, read.message);
      body = read.value;
    }
    const sessionId = req.headers['mcp-session-id'];
    if (sessionId === undefined) {
      if (req.method === 'POST' && isInitializeMessage(body)) return this.#initialize(req, res, body);
      return sendError(
        res,
        400,
        ErrorCode.InvalidRequest,
        'Bad Request: no Mcp-Session-Id header; start a session with initialize',
      );
    }
    const session = typeof sessionId === 'string' ? this.#byId.get(sessionId) : undefined;
    // 404 tells a client its session is gone, so it starts a new one (the transport spec's rule).
    if (!session) return sendError(res, 404, -32001, 'Session not found');
    session.lastSeen = Date.now();
    await session.transport.handleRequest(req, res, body);
  }

  #authorized(header: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    // Digests have equal lengths, so the comparison takes the same time whatever was sent.
    return match !== null && timingSafeEqual(digest(match[1]!), this.#tokenDigest);
  }

  /** An initialize request without a session: opens the tool session, then lets the transport answer. */
  #initialize(req: IncomingMessage, res: ServerResponse, request: InitializeMessage): Promise<void> {
    const opening = this.#openAndServe(req, res, request);
    this.#opening.add(opening);
    return opening.finally(() => this.#opening.delete(opening));
  }

  async #openAndServe(req: IncomingMessage, res: ServerResponse, request: InitializeMessage): Promise<void> {
    const client = clientLabel(request.params.clientInfo);
    let session: Session;
    try {
      session = await this.#open(client);
    } catch (error) {
      this.#log(`mcp-gateway: could not open a tool session for ${client}: ${errorMessage(error)}`);
      return sendError(
        res,
        500,
        ErrorCode.InternalError,
        `could not open a tool session for agent "${this.#agent}": ${errorMessage(error)}`,
        request.id,
      );
    }
    if (this.#closed) {
      await this.#end(session);
      return sendError(res, 503, ErrorCode.ConnectionClosed, 'the gateway is shutting down', request.id);
    }
    await session.transport.handleRequest(req, res, request);
    // The transport refused the handshake (bad headers): no request can ever reach this session.
    if (session.mcpSessionId === undefined) await this.#end(session);
  }

  async #open(client: string): Promise<Session> {
    const meta = await openToolSession(this.#deps, { agent: this.#agent, principal: this.#principal, client });
    let tools: Tool[];
    try {
      const context = (await this.#deps.store.loadState(meta.runId, { lastMessages: 0 }))?.context;
      if (!context) throw new Error(`tool session ${meta.runId} has no snapshot`);
      tools = listedTools(context.tools);
    } catch (error) {
      await closeToolSession(this.#deps, meta.runId).catch(() => undefined);
      throw error;
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session.mcpSessionId = id;
        this.#byId.set(id, session);
      },
      // A DELETE from the client: the run is closed before the DELETE is answered.
      onsessionclosed: () => this.#end(session),
    });
    const server = new Server(SERVER_INFO, {
      capabilities: { tools: {} },
      instructions:
        `looprail tool session ${meta.runId} for agent "${this.#agent}": every call is checked against the agent's grants ` +
        `and recorded (looprail trace ${meta.runId}). A refused call comes back as an error result that says why.`,
    });
    const session: Session = {
      runId: meta.runId,
      tools,
      transport,
      server,
      calls: Promise.resolve(),
      callCount: 0,
      pendingCalls: 0,
      lastSeen: Date.now(),
    };
    this.#serveTools(session);
    server.onclose = () => void this.#end(session);
    server.onerror = (error) => this.#log(`mcp-gateway: session ${meta.runId}: ${errorMessage(error)}`);
    await server.connect(transport);
    this.#live.add(session);
    this.#log(`mcp-gateway: session ${meta.runId} opened for ${client} (${tools.length} tools)`);
    return session;
  }

  /**
   * The low-level protocol server, not McpServer: the tools are known only as JSON Schemas
   * from the run's snapshot, served as they are, and every call goes to one core function.
   */
  #serveTools(session: Session): void {
    session.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: session.tools }));
    session.server.setRequestHandler(CallToolRequestSchema, (request) =>
      this.#call(session, request.params.name, request.params.arguments ?? {}),
    );
  }

  async #call(session: Session, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    if (session.ending) throw new McpError(ErrorCode.ConnectionClosed, `tool session ${session.runId} is closing`);
    const call = { type: 'tool_call' as const, id: `call-${++session.callCount}`, name, arguments: args };
    // Chained, so the session's run commits one call at a time, in the order they came.
    const outcome = session.calls.then(() => sessionToolCall(this.#deps, session.runId, call));
    session.calls = outcome.catch(() => undefined);
    session.pendingCalls += 1;
    try {
      const { result } = await outcome;
      return { content: [{ type: 'text', text: result.content }], isError: result.isError };
    } catch (error) {
      // Not the tool failing (that is an isError result) but looprail: the call may be unrecorded.
      this.#log(`mcp-gateway: session ${session.runId}: call ${call.id} to ${name} failed: ${errorMessage(error)}`);
      throw new McpError(
        ErrorCode.InternalError,
        `looprail could not run or record the call to ${name}: ${errorMessage(error)}`,
      );
    } finally {
      session.pendingCalls -= 1;
      session.lastSeen = Date.now();
    }
  }

  #closeIdle(): void {
    const cutoff = Date.now() - this.#idleTimeoutMs;
    for (const session of this.#live) {
      if (session.pendingCalls > 0 || session.lastSeen > cutoff) continue;
      this.#log(
        `mcp-gateway: session ${session.runId} idle for ${Math.round(this.#idleTimeoutMs / 1000)} s; closing it`,
      );
      void this.#end(session);
    }
  }

  /** Ends a session once: waits for its calls, closes its run, then its transport. */
  #end(session: Session): Promise<void> {
    session.ending ??= (async () => {
      if (session.mcpSessionId !== undefined) this.#byId.delete(session.mcpSessionId);
      this.#live.delete(session);
      await session.calls;
      try {
        await closeToolSession(this.#deps, session.runId);
        this.#log(`mcp-gateway: session ${session.runId} closed`);
      } catch (error) {
        this.#log(`mcp-gateway: session ${session.runId} could not be closed: ${errorMessage(error)}`);
      }
      await session.server.close().catch(() => undefined);
    })();
    return session.ending;
  }

  async close(http: HttpServer): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
    await Promise.allSettled(this.#opening);
    await Promise.all([...this.#live].map((session) => this.#end(session)));
    // Clients keep a GET stream and idle keep-alive sockets open; nothing more will be answered.
    http.closeAllConnections();
    await stopped;
  }
}

/** The session's tools as MCP lists them: model-facing names, real schemas, the effective flags. */
export function listedTools(tools: ToolSpec[]): Tool[] {
  return tools
    .filter((tool) => !tool.builtin)
    .map((tool) => ({
      name: tool.name,
      description: tool.description,
      inputSchema: { ...tool.inputSchema, type: 'object' as const },
      annotations: {
        title: `${tool.server}.${tool.tool}`,
        readOnlyHint: tool.readOnly,
        destructiveHint: tool.destructive,
      },
    }));
}

/** One initialize request as it came on the wire (a batch cannot initialize a session). */
type InitializeMessage = InitializeRequest & Pick<JSONRPCRequest, 'jsonrpc' | 'id'>;

function isInitializeMessage(body: unknown): body is InitializeMessage {
  return isJSONRPCRequest(body) && isInitializeRequest(body);
}

function clientLabel(info: { name: string; version: string }): string {
  return `${info.name}/${info.version}`.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_CLIENT_LABEL);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

type BodyRead = { ok: true; value: unknown } | { ok: false; status: number; code: number; message: string };

/** Reads and parses a POST body, refusing it once it passes MAX_BODY_BYTES. */
async function readJsonBody(req: IncomingMessage): Promise<BodyRead> {
  const tooLarge: BodyRead = {
    ok: false,
    status: 413,
    code: ErrorCode.InvalidRequest,
    message: `the request body is larger than ${MAX_BODY_BYTES} bytes`,
  };
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  // Stopping early must not destroy the socket: the 413 still has to be sent on it.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return tooLarge;
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  // Before JSON.parse: the SDK's schemas and the governed call walk what is parsed.
  const deep = jsonTextDepthProblem(text, MAX_BODY_DEPTH, 'body');
  if (deep)
    return { ok: false, status: 400, code: ErrorCode.InvalidRequest, message: `Invalid request: ${deep.message}` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, status: 400, code: ErrorCode.ParseError, message: 'Parse error: the body is not valid JSON' };
  }
}

function sendUnauthorized(res: ServerResponse): void {
  res.setHeader('WWW-Authenticate', 'Bearer realm="looprail-gateway"');
  sendError(res, 401, -32001, 'Unauthorized: send the gateway token as "Authorization: Bearer <token>"');
}

function sendError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  id: string | number | null = null,
): void {
  // A refused body may still be arriving: close the connection instead of reading the rest.
  if (status === 413) res.setHeader('Connection', 'close');
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id }));
}
