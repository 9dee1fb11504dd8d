import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import type { SandboxSpec } from '../../core/definitions/sandbox.ts';
import { SandboxUnavailableError } from '../../core/errors.ts';
import type { ScriptResult, ScriptToolResult, ToolBridge } from '../../core/ports/sandbox.ts';
import {
  DiffRequestBody,
  ExecRequestBody,
  InitRequest,
  ListRequestBody,
  ReadRequestBody,
  ScriptResultsBody,
  ScriptStartBody,
  WriteRequestBody,
  type ErrorBody,
  type HealthResponse,
  type InitResponse,
  type ScriptEvent,
} from '../../adapters/sandbox/protocol.ts';
import { matchesDigest } from '../../adapters/sandbox/tokens.ts';
import { SandboxCallError, WorkspaceSandbox } from '../../adapters/sandbox/workspace.ts';
import { killProcessesOf, UidLauncher } from './launcher.ts';

/**
 * The sandbox agent: the HTTP server inside a sandbox's container on AWS
 * (adapters/sandbox/protocol.ts), running the same operations as the local sandbox
 * (adapters/sandbox/workspace.ts) with commands started as an unprivileged uid (launcher.ts). The task is the isolation boundary (its own
 * network interface, no IAM role); the agent runs as root only to start commands as that
 * uid and to kill what they leave behind.
 *
 * One operation at a time, in arrival order (no PID namespace: each command's leftovers
 * are killed by uid, which would kill a command running beside it). A script holds the
 * sandbox until it ends, its waits on tool calls included: a script's tool call that asks
 * for this same sandbox's tools waits behind it until the script's timeout.
 *
 * Every request carries `Authorization: Bearer <token>`, checked against the token's
 * digest before anything else is done. Errors are `{ error: { name, message } }`:
 * 400 looprail.BadRequest, 401 looprail.Unauthorized, 404 looprail.NotFound,
 * 405 looprail.MethodNotAllowed, 409 looprail.SandboxNotReady (before /v1/init),
 * 413 looprail.PayloadTooLarge, 422 looprail.SandboxCall (a call that could not be done:
 * no such file…), 500 looprail.SandboxUnavailable (the workspace could not be set up) or
 * looprail.SandboxAgent (anything else).
 */

export interface SandboxAgentOptions {
  /** SHA-256 (hex) of the agent token (LOOPRAIL_SANDBOX_TOKEN_SHA256). */
  tokenSha256: string;
  /** Default /workspace. */
  workspace?: string;
  /** The sandbox user's HOME and TMPDIR, emptied before each command. Default /home/sandbox and /tmp/sandbox. */
  home?: string;
  tmp?: string;
  /** The unprivileged user commands run as. Default 1000 (and its gid). Never 0. */
  uid?: number;
  gid?: number;
  /** The Node that runs code-mode scripts. Default: the agent's own. */
  nodePath?: string;
  /** prlimit, to hold the spec's per-process limits; none: the task's ulimits alone. */
  prlimitPath?: string;
  /** The egress proxy URL (with the sandbox's credentials): given to commands as HTTP(S)_PROXY. */
  proxyUrl?: string;
  /** Exit after this long without a request or a running operation. */
  idleSeconds?: number;
  /** Exit after this long in all. */
  maxSeconds?: number;
  /** How the agent exits (the task stops). Default process.exit. */
  exit?: (code: number) => void;
  /** One entry per request ({ op, method, status, durationMs }) and per exit ({ event, reason }); never a body. */
  log?: (entry: Record<string, unknown>) => void;
  /** Largest /v1/init body (its base64 archive). Default 64 MB. */
  maxInitBodyBytes?: number;
  /** Largest body of any other request. Default 8 MB (a 1 MB file is up to 6 MB of JSON-escaped text). */
  maxBodyBytes?: number;
}

/** What a sandbox agent server exposes beyond node:http's Server. */
export interface SandboxAgentServer extends Server {
  /** Sandbox time used so far (the sum of its operations' durations). */
  usedMs(): number;
}

const MB = 1024 * 1024;
/** Finished scripts kept for a repeated poll (a retried request gets the same answer). */
const KEPT_SCRIPTS = 16;
const SCRIPT_ID = /^s-[0-9a-f]{24}$/;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, name: string, message: string) {
    super(message);
    this.status = status;
    this.name = name;
  }
}

const badRequest = (message: string) => new HttpError(400, 'looprail.BadRequest', message);

const Routes: Record<string, { method: 'GET' | 'POST'; op: string }> = {
  '/v1/health': { method: 'GET', op: 'health' },
  '/v1/init': { method: 'POST', op: 'init' },
  '/v1/exec': { method: 'POST', op: 'exec' },
  '/v1/read': { method: 'POST', op: 'read' },
  '/v1/write': { method: 'POST', op: 'write' },
  '/v1/list': { method: 'POST', op: 'list' },
  '/v1/diff': { method: 'POST', op: 'diff' },
  '/v1/scripts': { method: 'POST', op: 'script_start' },
};
const RESULTS_ROUTE = /^\/v1\/scripts\/([^/]+)\/results$/;

interface Ready {
  sandbox: WorkspaceSandbox;
  createdAt: string;
}

export function createSandboxAgent(options: SandboxAgentOptions): SandboxAgentServer {
  if (!/^[0-9a-f]{64}$/.test(options.tokenSha256)) throw new Error('tokenSha256 must be a SHA-256 digest (64 lower-case hex digits)');
  const uid = options.uid ?? 1000;
  const gid = options.gid ?? uid;
  if (uid === 0 || gid === 0) throw new Error('commands never run as root: uid and gid must not be 0');
  const workspace = options.workspace ?? '/workspace';
  const home = options.home ?? '/home/sandbox';
  const tmp = options.tmp ?? '/tmp/sandbox';
  const node = options.nodePath ?? process.execPath;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = options.log ?? (() => undefined);
  const maxInitBody = options.maxInitBodyBytes ?? 64 * MB;
  const maxBody = options.maxBodyBytes ?? 8 * MB;

  let ready: Ready | undefined;
  let initializing: Promise<Ready> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  /** Operations queued or running (a script from its start to its end). */
  let busy = 0;
  let inFlight = 0;
  let exiting = false;
  const scripts = new Map<string, ScriptSession>();

  /** One operation at a time, in order; a failed one does not stop the next. */
  function serialized<T>(operation: () => Promise<T>): Promise<T> {
    busy += 1;
    touch();
    const next = queue.then(operation);
    queue = next.catch(() => undefined);
    return next.finally(() => {
      busy -= 1;
      touch();
    });
  }

  // ---- lifetime ----

  let idleTimer: NodeJS.Timeout | undefined;
  const maxTimer = options.maxSeconds !== undefined ? setTimeout(() => void shutdown('max_lifetime'), timerMs(options.maxSeconds)) : undefined;

  function touch(): void {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = undefined;
    if (options.idleSeconds === undefined || exiting || inFlight > 0 || busy > 0) return;
    idleTimer = setTimeout(() => void shutdown('idle'), timerMs(options.idleSeconds));
  }

  async function shutdown(reason: string): Promise<void> {
    if (exiting) return;
    exiting = true;
    if (idleTimer) clearTimeout(idleTimer);
    if (maxTimer) clearTimeout(maxTimer);
    log({ event: 'exit', reason });
    await killProcessesOf(uid).catch(() => undefined);
    exit(0);
  }

  // ---- operations ----

  function launcherFor(spec: SandboxSpec): UidLauncher {
    return new UidLauncher({ spec, workspace, home, tmp, uid, gid, ...(options.prlimitPath ? { prlimit: options.prlimitPath } : {}), ...(options.proxyUrl ? { proxyUrl: options.proxyUrl } : {}) });
  }

  function requireReady(): Ready {
    if (!ready) throw new HttpError(409, 'looprail.SandboxNotReady', 'the sandbox is not initialized: POST /v1/init first');
    return ready;
  }

  async function init(request: z.output<typeof InitRequest>): Promise<InitResponse> {
    if (!ready) {
      initializing ??= serialized(() => prepare(request));
      try {
        ready = await initializing;
      } catch (error) {
        initializing = undefined;
        throw error;
      }
    }
    return { base: ready.sandbox.state.base, usedMs: ready.sandbox.usedMs(), createdAt: ready.createdAt };
  }

  async function prepare(request: z.output<typeof InitRequest>): Promise<Ready> {
    // A failed init may have left a half-made workspace: start clean.
    await mkdir(workspace, { recursive: true });
    for (const entry of await readdir(workspace)) await rm(join(workspace, entry), { recursive: true, force: true });
    await chown(workspace, uid, gid);
    await chmod(workspace, 0o700);
    const sandbox = new WorkspaceSandbox({ launcher: launcherFor(request.spec), spec: request.spec, workspaceDir: workspace, node, state: { base: '0'.repeat(40), usedMs: 0, createdAt: new Date().toISOString() } });
    const git = await sandbox.run('command -v git', [], { timeoutMs: 30_000, maxBytes: 1024, separate: true });
    if (git.exitCode !== 0) throw new SandboxUnavailableError(`the sandbox image has no git (needed for the workspace's base and diff): install git in the image ${request.spec.image}`);
    const repository = request.repository;
    if (repository && 'archive' in repository) await extract(sandbox, repository.archive);
    else if (repository) await clone(sandbox, repository.url, repository.ref);
    await sandbox.initialize(request.files);
    return { sandbox, createdAt: sandbox.createdAt };
  }

  // ---- scripts ----

  function startScript(body: z.output<typeof ScriptStartBody>): ScriptSession {
    const { sandbox } = requireReady();
    const session = new ScriptSession(`s-${randomBytes(12).toString('hex')}`);
    scripts.set(session.id, session);
    serialized(() => sandbox.runScript({ code: body.code, cwd: body.cwd, timeoutSeconds: body.timeoutSeconds }, session.bridge)).then(
      (result) => session.finish({ value: result.value, durationMs: result.durationMs, usedMs: sandbox.usedMs() }),
      (error: unknown) => session.fail(error),
    );
    // Keep a few finished ones for repeated polls; drop the oldest finished beyond that.
    const finished = [...scripts.values()].filter((s) => s.ended);
    for (const old of finished.slice(0, Math.max(0, finished.length - KEPT_SCRIPTS))) scripts.delete(old.id);
    return session;
  }

  // ---- HTTP ----

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = { pathname: pathOf(req.url) };
    const scriptId = RESULTS_ROUTE.exec(url.pathname)?.[1];
    const route = Routes[url.pathname] ?? (scriptId !== undefined ? { method: 'POST' as const, op: 'script_results' } : undefined);
    if (!route) {
      req.resume();
      throw new HttpError(404, 'looprail.NotFound', `no route ${url.pathname.slice(0, 200)}`);
    }
    if (req.method !== route.method) {
      req.resume();
      res.setHeader('allow', route.method);
      throw new HttpError(405, 'looprail.MethodNotAllowed', `${url.pathname} takes ${route.method}, not ${req.method ?? '(none)'}`);
    }
    if (route.method === 'GET') {
      req.resume();
      send(res, 200, { ready: ready !== undefined, usedMs: ready?.sandbox.usedMs() ?? 0, ...(ready ? { createdAt: ready.createdAt } : {}) } satisfies HealthResponse);
      return;
    }
    const body = await readJson(req, route.op === 'init' ? maxInitBody : maxBody);
    send(res, 200, await dispatch(route.op, body, scriptId));
  }

  async function dispatch(op: string, body: unknown, scriptId: string | undefined): Promise<unknown> {
    switch (op) {
      case 'init':
        return init(parse(InitRequest, body));
      case 'exec': {
        const request = parse(ExecRequestBody, body);
        const { sandbox } = requireReady();
        return metered(sandbox, await serialized(() => sandbox.exec(request)));
      }
      case 'read': {
        const request = parse(ReadRequestBody, body);
        const { sandbox } = requireReady();
        return metered(sandbox, await serialized(() => sandbox.readFile(request.path, request.maxBytes)));
      }
      case 'write': {
        const request = parse(WriteRequestBody, body);
        const { sandbox } = requireReady();
        return metered(sandbox, await serialized(() => sandbox.writeFile(request.path, request.content)));
      }
      case 'list': {
        const request = parse(ListRequestBody, body);
        const { sandbox } = requireReady();
        return metered(sandbox, await serialized(() => sandbox.listFiles(request.path, request.maxDepth, request.maxEntries)));
      }
      case 'diff': {
        const request = parse(DiffRequestBody, body);
        const { sandbox } = requireReady();
        return metered(sandbox, await serialized(() => sandbox.diff(request.maxBytes)));
      }
      case 'script_start': {
        const request = parse(ScriptStartBody, body);
        return startScript(request).next(request.waitMs);
      }
      case 'script_results': {
        const request = parse(ScriptResultsBody, body);
        requireReady();
        const session = SCRIPT_ID.test(scriptId!) ? scripts.get(scriptId!) : undefined;
        if (!session) throw new HttpError(404, 'looprail.NotFound', `no script ${scriptId!.slice(0, 64)} in this sandbox`);
        session.answer(request.results);
        return session.next(request.waitMs);
      }
      default:
        throw new HttpError(404, 'looprail.NotFound', `no operation ${op}`);
    }
  }

  const server = createServer((req, res) => {
    const started = performance.now();
    const logged = (status: number) => log({ op: opOf(req.url), method: req.method, status, durationMs: Math.round(performance.now() - started) });
    // Before anything else, and changing nothing (not even the idle clock): the token.
    const presented = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (presented === undefined || !matchesDigest(presented, options.tokenSha256)) {
      req.resume();
      const message = presented === undefined ? 'a bearer token is required' : "the bearer token is not this sandbox's";
      send(res, 401, { error: { name: 'looprail.Unauthorized', message } } satisfies ErrorBody);
      logged(401);
      return;
    }
    inFlight += 1;
    touch();
    handle(req, res)
      .then(
        () => 200,
        (error: unknown) => {
          const failure = asHttpError(error);
          if (!res.headersSent) send(res, failure.status, { error: { name: failure.name, message: failure.message } } satisfies ErrorBody);
          else res.destroy();
          return failure.status;
        },
      )
      .then(logged)
      .finally(() => {
        inFlight -= 1;
        touch();
      });
  }) as SandboxAgentServer;
  server.usedMs = () => ready?.sandbox.usedMs() ?? 0;
  server.on('close', () => {
    exiting = true;
    if (idleTimer) clearTimeout(idleTimer);
    if (maxTimer) clearTimeout(maxTimer);
  });
  touch();
  return server;
}

/** A script's rounds: the calls it asks for, reported once each; results handed back; its end. */
class ScriptSession {
  readonly id: string;
  ended = false;
  #callCount = 0;
  readonly #waiting = new Map<string, (result: ScriptToolResult) => void>();
  readonly #issued = new Set<string>();
  #unreported: Array<{ callId: string; name: string; arguments: Record<string, unknown> }> = [];
  #done: { value: ScriptResult; durationMs: number; usedMs: number } | undefined;
  #failure: unknown;
  #wake: Array<() => void> = [];

  constructor(id: string) {
    this.id = id;
  }

  readonly bridge: ToolBridge = (call) =>
    new Promise((resolve) => {
      const callId = `c${++this.#callCount}`;
      this.#issued.add(callId);
      this.#waiting.set(callId, resolve);
      this.#unreported.push({ callId, name: call.name, arguments: call.arguments });
      this.#notify();
    });

  finish(done: { value: ScriptResult; durationMs: number; usedMs: number }): void {
    this.#done = done;
    this.#end();
  }

  fail(error: unknown): void {
    this.#failure = error;
    this.#end();
  }

  /** Results of calls it asked for; a result given twice (a retried request) or after the script ended is ignored. */
  answer(results: Array<{ callId: string; content: string; isError: boolean }>): void {
    const unknown = results.find((result) => !this.#issued.has(result.callId));
    if (unknown) throw badRequest(`results.callId: script ${this.id} asked for no call ${unknown.callId.slice(0, 64)}`);
    for (const result of results) {
      const resolve = this.#waiting.get(result.callId);
      if (!resolve) continue;
      this.#waiting.delete(result.callId);
      resolve({ content: result.content, isError: result.isError });
    }
  }

  /** The next event: at once if there is one, else when one comes or waitMs passes. */
  async next(waitMs: number): Promise<ScriptEvent> {
    const now = this.#event();
    if (now) return now;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake.push(done);
    });
    return this.#event() ?? { state: 'running', scriptId: this.id };
  }

  #event(): ScriptEvent | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#done) return { state: 'done', scriptId: this.id, ...this.#done };
    if (this.#unreported.length === 0) return undefined;
    const calls = this.#unreported;
    this.#unreported = [];
    return { state: 'calls', scriptId: this.id, calls };
  }

  #end(): void {
    this.ended = true;
    this.#waiting.clear();
    this.#notify();
  }

  /** Wakes a waiting poll after this turn of the event loop, so calls a script makes together are reported together. */
  #notify(): void {
    setImmediate(() => {
      const wake = this.#wake;
      this.#wake = [];
      for (const done of wake) done();
    });
  }
}

function metered<T>(sandbox: WorkspaceSandbox, timed: { value: T; durationMs: number }): { value: T; durationMs: number; usedMs: number } {
  return { value: timed.value, durationMs: timed.durationMs, usedMs: sandbox.usedMs() };
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw badRequest(`invalid request body: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ')}`);
}

/** The body as JSON, refusing one over `limit` bytes (read to its end, so the answer reaches the client). */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const tooLarge = () => new HttpError(413, 'looprail.PayloadTooLarge', `the body is over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let bytes = 0;
  let over = declared > limit;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limit) over = true;
    if (!over) chunks.push(chunk);
  }
  if (over) throw tooLarge();
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw badRequest('the body is empty: expected a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest(`the body is not JSON: ${(error as Error).message}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function asHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof SandboxCallError) return new HttpError(422, error.name, error.message);
  if (error instanceof SandboxUnavailableError) return new HttpError(500, error.name, error.message);
  return new HttpError(500, 'looprail.SandboxAgent', `the sandbox agent failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
}

function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://agent').pathname;
  } catch {
    return '/';
  }
}

function opOf(url: string | undefined): string {
  const path = pathOf(url);
  return Routes[path]?.op ?? (RESULTS_ROUTE.test(path) ? 'script_results' : 'unknown');
}

/** setTimeout's longest delay is 2^31-1 ms (about 24.8 days). */
function timerMs(seconds: number): number {
  return Math.min(Math.max(0, seconds * 1000), 2 ** 31 - 1);
}

// ---- the repository ----

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The archive, unpacked by the sandbox's user, once tar has listed nothing outside the workspace. */
async function extract(sandbox: WorkspaceSandbox, archive: string): Promise<void> {
  const compact = archive.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) throw badRequest('invalid request body: repository.archive: expected a base64 .tar.gz');
  const bytes = Buffer.from(compact, 'base64');
  const listing = await sandbox.run('tar -tzf -', [], { timeoutMs: 300_000, maxBytes: 64 * MB, separate: true, stdin: bytes });
  if (listing.exitCode !== 0) throw badRequest(`repository.archive is not a readable .tar.gz: ${listing.err.toString('utf8').trim().slice(0, 300) || `tar exited with ${listing.exitCode ?? 'a kill'}`}`);
  for (const name of listing.out.toString('utf8').split('\n')) {
    if (name === '') continue;
    if (name.startsWith('/') || name.split('/').includes('..')) throw badRequest(`repository.archive has an entry outside the workspace: ${name.slice(0, 200)}`);
  }
  const unpacked = await sandbox.run('tar -xzf - --no-same-owner', [], { timeoutMs: 300_000, maxBytes: 4096, separate: true, stdin: bytes });
  if (unpacked.exitCode !== 0) throw new SandboxUnavailableError(`the repository archive could not be unpacked: ${unpacked.err.toString('utf8').trim().slice(0, 300)}`);
}

/** A clone by the sandbox's user, over https only (through the egress proxy when there is one). */
async function clone(sandbox: WorkspaceSandbox, url: string, ref: string): Promise<void> {
  if (!url.startsWith('https://')) throw badRequest('invalid request body: repository.url: expected an https:// URL');
  const cloned = await sandbox.run('git -c protocol.allow=never -c protocol.https.allow=always clone --quiet -- "$1" . && if [ "$2" != HEAD ]; then git checkout --quiet --detach "$2"; fi', [url, ref], {
    timeoutMs: 600_000,
    maxBytes: 4096,
    separate: true,
  });
  if (cloned.exitCode !== 0) {
    const why = cloned.timedOut ? 'it took longer than 600 s' : cloned.err.toString('utf8').trim().slice(0, 300);
    throw new SandboxUnavailableError(`the repository ${url} (ref ${ref}) could not be cloned: ${why}`);
  }
}
