import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ErrorBody, HealthResponse } from '../../adapters/sandbox/protocol.ts';
import { matchesDigest } from '../../adapters/sandbox/tokens.ts';
import { asHttpError, HttpError, opOf, pathOf, readJson, RESULTS_ROUTE, Routes, send } from './http.ts';
import { killProcessesOf } from './launcher.ts';
import { Lifetime } from './lifetime.ts';
import { SandboxOperations } from './operations.ts';

/**
 * The sandbox agent: the HTTP server inside a sandbox's container on AWS
 * (adapters/sandbox/protocol.ts), running the same operations as the local sandbox
 * (adapters/sandbox/workspace.ts, here in operations.ts) with commands started as an
 * unprivileged uid (launcher.ts). The task is the isolation boundary (its own network
 * interface, no IAM role); the agent runs as root only to start commands as that uid and
 * to kill what they leave behind (lifetime.ts ends it when idle or past its lifetime).
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

/** What every request is handled with. */
interface Serving {
  readonly tokenSha256: string;
  readonly operations: SandboxOperations;
  readonly lifetime: Lifetime;
  readonly log: (entry: Record<string, unknown>) => void;
  readonly maxInitBody: number;
  readonly maxBody: number;
}

export function createSandboxAgent(options: SandboxAgentOptions): SandboxAgentServer {
  if (!/^[0-9a-f]{64}$/.test(options.tokenSha256)) {
    throw new Error('tokenSha256 must be a SHA-256 digest (64 lower-case hex digits)');
  }
  const uid = options.uid ?? 1000;
  const gid = options.gid ?? uid;
  if (uid === 0 || gid === 0) throw new Error('commands never run as root: uid and gid must not be 0');
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = options.log ?? (() => undefined);
  const lifetime = new Lifetime({
    idleSeconds: options.idleSeconds,
    maxSeconds: options.maxSeconds,
    onExit: async (reason) => {
      log({ event: 'exit', reason });
      await killProcessesOf(uid).catch(() => undefined);
      exit(0);
    },
  });
  const operations = new SandboxOperations(
    {
      workspace: options.workspace ?? '/workspace',
      home: options.home ?? '/home/sandbox',
      tmp: options.tmp ?? '/tmp/sandbox',
      uid,
      gid,
      node: options.nodePath ?? process.execPath,
      ...(options.prlimitPath ? { prlimitPath: options.prlimitPath } : {}),
      ...(options.proxyUrl ? { proxyUrl: options.proxyUrl } : {}),
    },
    lifetime,
  );
  const serving: Serving = {
    tokenSha256: options.tokenSha256,
    operations,
    lifetime,
    log,
    maxInitBody: options.maxInitBodyBytes ?? 64 * MB,
    maxBody: options.maxBodyBytes ?? 8 * MB,
  };
  const server = createServer((req, res) => serve(serving, req, res)) as SandboxAgentServer;
  server.usedMs = () => operations.usedMs();
  server.on('close', () => lifetime.stop());
  lifetime.touch();
  return server;
}

/** Checks the token, then handles the request and logs one line for it, the error answer included. */
function serve(serving: Serving, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  const logged = (status: number) =>
    serving.log({ op: opOf(req.url), method: req.method, status, durationMs: Math.round(performance.now() - started) });
  // Before anything else, and changing nothing (not even the idle clock): the token.
  const presented = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (presented === undefined || !matchesDigest(presented, serving.tokenSha256)) {
    req.resume();
    const message = presented === undefined ? 'a bearer token is required' : "the bearer token is not this sandbox's";
    send(res, 401, { error: { name: 'looprail.Unauthorized', message } } satisfies ErrorBody);
    logged(401);
    return;
  }
  const answered = () =>
    handle(serving, req, res).then(
      () => 200,
      (error: unknown) => {
        const failure = asHttpError(error);
        const answer = { error: { name: failure.name, message: failure.message } } satisfies ErrorBody;
        if (!res.headersSent) send(res, failure.status, answer);
        else res.destroy();
        return failure.status;
      },
    );
  void serving.lifetime.during(() => answered().then(logged));
}

async function handle(serving: Serving, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = pathOf(req.url);
  const scriptId = RESULTS_ROUTE.exec(pathname)?.[1];
  const results = scriptId !== undefined ? { method: 'POST' as const, op: 'script_results' } : undefined;
  const route = Routes[pathname] ?? results;
  if (!route) {
    req.resume();
    throw new HttpError(404, 'looprail.NotFound', `no route ${pathname.slice(0, 200)}`);
  }
  if (req.method !== route.method) {
    req.resume();
    res.setHeader('allow', route.method);
    const message = `${pathname} takes ${route.method}, not ${req.method ?? '(none)'}`;
    throw new HttpError(405, 'looprail.MethodNotAllowed', message);
  }
  if (route.method === 'GET') {
    req.resume();
    send(res, 200, serving.operations.health() satisfies HealthResponse);
    return;
  }
  const body = await readJson(req, route.op === 'init' ? serving.maxInitBody : serving.maxBody);
  send(res, 200, await serving.operations.dispatch(route.op, body, scriptId));
}
