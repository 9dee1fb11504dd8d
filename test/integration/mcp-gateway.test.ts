import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { McpServerDeclaration } from '../../core/definitions/org.ts';
import { ConfigurationError, SecretNotFoundError, ToolTimeoutError, ToolUnavailableError } from '../../core/errors.ts';
import { freePort, startEverythingHttp } from '../support/everything-http.ts';

/**
 * The MCP gateway against real servers: the reference "everything", "memory" and
 * "filesystem" servers from npm (stdio and Streamable HTTP), plus a small hand-written
 * stdio server for the misbehaviour the reference servers never show (JSON-RPC errors,
 * garbage on stdout, crashes, paginated tool lists).
 */

const projectRoot = resolve(import.meta.dirname, '../..');
const TOKEN = 'tok-7f3a9c1e-very-secret';

/** A stdio MCP server written by hand, to misbehave on request. */
const FAKE_SERVER = `
import { createInterface } from 'node:readline';
const send = (message) => process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...message }) + '\\n');
const schema = { type: 'object', properties: {} };
const tools = ['fail', 'garbage', 'bad-result', 'crash', 'echo-token'].map((name) => ({ name, inputSchema: schema }));
process.stderr.write('fake server starting, token ' + process.env.FAKE_TOKEN + '\\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const message = JSON.parse(line);
  if (message.id === undefined) return;
  const id = message.id;
  if (message.method === 'initialize') {
    return send({ id, result: { protocolVersion: message.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1.0.0' } } });
  }
  if (message.method === 'tools/list') {
    // Two pages, to make the client follow the cursor.
    if (message.params?.cursor === 'page-2') return send({ id, result: { tools: tools.slice(2) } });
    return send({ id, result: { tools: tools.slice(0, 2), nextCursor: 'page-2' } });
  }
  if (message.method === 'tools/call') {
    switch (message.params.name) {
      case 'fail': return send({ id, error: { code: -32602, message: 'invalid params (token ' + process.env.FAKE_TOKEN + ')' } });
      case 'garbage': return process.stdout.write('this is not JSON-RPC\\n');
      case 'bad-result': return send({ id, result: { content: 'not a list' } });
      case 'crash': process.stderr.write('fatal: lost my token ' + process.env.FAKE_TOKEN + '\\n'); return process.exit(3);
      case 'echo-token': return send({ id, result: { content: [{ type: 'text', text: 'token=' + process.env.FAKE_TOKEN }] } });
    }
  }
  send({ id, error: { code: -32601, message: 'Method not found' } });
});
`;

function declare(raw: Record<string, unknown>): McpServerDeclaration {
  return McpServerDeclaration.parse({ tools: {}, ...raw });
}

const everythingStdio = declare({
  name: 'everything',
  transport: { type: 'stdio', command: 'mcp-server-everything', args: ['stdio'] },
});

/** A gateway plus the log lines it wrote, to count connections. */
function newGateway(extra: { env?: Record<string, string>; stateDir?: string } = {}) {
  const lines: string[] = [];
  const gateway = new McpToolGateway({
    secrets: new LocalSecretStore({ env: extra.env ?? {} }),
    projectRoot,
    ...(extra.stateDir ? { stateDir: extra.stateDir } : {}),
    logger: (line) => lines.push(line),
  });
  const pids = (server: string) =>
    lines.flatMap((line) => {
      const match = new RegExp(`^mcp: ${server}: connected over stdio \\(pid (\\d+)\\)`).exec(line);
      return match ? [Number(match[1])] : [];
    });
  const connects = (server: string) => lines.filter((line) => line.startsWith(`mcp: ${server}: connected`)).length;
  return { gateway, lines, pids, connects };
}

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe('McpToolGateway over stdio: server-everything', () => {
  const { gateway, pids } = newGateway();
  afterAll(() => gateway.close());

  it('lists tools with their schemas and annotations', async () => {
    const tools = await gateway.listTools(everythingStdio);
    const echo = tools.find((tool) => tool.name === 'echo');
    expect(echo).toMatchObject({
      description: expect.stringContaining('Echo'),
      inputSchema: { type: 'object', properties: { message: { type: 'string' } } },
      annotations: { readOnlyHint: true, destructiveHint: false },
    });
    expect(tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['get-sum', 'get-tiny-image', 'trigger-long-running-operation']),
    );
  });

  it('calls echo, and keeps one connection for many calls', async () => {
    expect(await gateway.callTool(everythingStdio, 'echo', { message: 'hello' }, { timeoutMs: 5_000 })).toEqual({
      content: 'Echo: hello',
      isError: false,
    });
    const calls = 200;
    const started = performance.now();
    for (let i = 0; i < calls; i++)
      await gateway.callTool(everythingStdio, 'echo', { message: `m${i}` }, { timeoutMs: 5_000 });
    const perCall = (performance.now() - started) / calls;
    console.info(`stdio echo: ${perCall.toFixed(2)} ms per call`);
    expect(pids('everything')).toHaveLength(1);
  });

  it('returns invalid arguments and unknown tools as isError results, not exceptions', async () => {
    const badArgs = await gateway.callTool(everythingStdio, 'get-sum', { a: 'one' }, { timeoutMs: 5_000 });
    expect(badArgs.isError).toBe(true);
    expect(badArgs.content).toMatch(/-32602.*Invalid arguments for tool get-sum/s);

    const unknown = await gateway.callTool(everythingStdio, 'no-such-tool', {}, { timeoutMs: 5_000 });
    expect(unknown).toEqual({ isError: true, content: expect.stringContaining('Tool no-such-tool not found') });
  });

  it('renders images, resources and resource links as short text', async () => {
    const image = await gateway.callTool(everythingStdio, 'get-tiny-image', {}, { timeoutMs: 5_000 });
    expect(image.content).toMatch(/\[image image\/png, \d+ bytes\]/);
    expect(image.content.length).toBeLessThan(500);

    const reference = await gateway.callTool(
      everythingStdio,
      'get-resource-reference',
      { resourceId: 1 },
      { timeoutMs: 5_000 },
    );
    expect(reference.content).toContain(
      '[resource demo://resource/dynamic/text/1]\nResource 1: This is a plaintext resource',
    );

    const links = await gateway.callTool(everythingStdio, 'get-resource-links', { count: 2 }, { timeoutMs: 5_000 });
    expect(links.content).toContain('[resource_link demo://resource/dynamic/');
  });

  it('times out a slow call with ToolTimeoutError and keeps the connection', async () => {
    const started = performance.now();
    const error = await caught(
      gateway.callTool(
        everythingStdio,
        'trigger-long-running-operation',
        { duration: 1, steps: 1 },
        { timeoutMs: 150 },
      ),
    );
    expect(error).toBeInstanceOf(ToolTimeoutError);
    expect(error.message).toBe('MCP tool "everything/trigger-long-running-operation" did not answer within 150 ms');
    expect(performance.now() - started).toBeLessThan(1_000);

    // The late answer arrives after the timeout; it must not upset the connection.
    await new Promise((done) => setTimeout(done, 1_100));
    expect(
      (await gateway.callTool(everythingStdio, 'echo', { message: 'still here' }, { timeoutMs: 5_000 })).content,
    ).toBe('Echo: still here');
    expect(pids('everything')).toHaveLength(1);
  });

  it('stops waiting when the caller aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('run cancelled')), 50);
    const error = await caught(
      gateway.callTool(
        everythingStdio,
        'trigger-long-running-operation',
        { duration: 1, steps: 1 },
        { timeoutMs: 5_000, signal: controller.signal },
      ),
    );
    expect(error.message).toBe('run cancelled');
  });

  it('reconnects after the server process dies', async () => {
    const [pid] = pids('everything');
    process.kill(pid!, 'SIGKILL');
    await waitFor(() => !isAlive(pid!), 'the server to die');
    // The exit is noticed by the transport; the next call starts a new process.
    const result = await gateway.callTool(everythingStdio, 'echo', { message: 'again' }, { timeoutMs: 5_000 });
    expect(result.content).toBe('Echo: again');
    expect(pids('everything')).toHaveLength(2);
    expect(pids('everything')[1]).not.toBe(pid);
  });

  it('reconnects when the declaration changes', async () => {
    const before = pids('everything').at(-1)!;
    const changed = declare({
      name: 'everything',
      transport: { type: 'stdio', command: 'mcp-server-everything', args: ['stdio'], env: { SOMETHING: 'new' } },
    });
    const env = await gateway.callTool(changed, 'get-env', {}, { timeoutMs: 5_000 });
    expect(env.content).toContain('"SOMETHING": "new"');
    // A minimal environment: nothing of ours beyond the safe basics.
    expect(env.content).not.toContain('NODE_OPTIONS');
    expect(env.content).not.toContain('VITEST');
    expect(env.content).toContain('node_modules/.bin');
    expect(pids('everything')).toHaveLength(3);
    await waitFor(() => !isAlive(before), 'the old server to stop');
  });
});

describe('McpToolGateway shares one connection between concurrent callers', () => {
  it('starts a single process for 20 concurrent first calls', async () => {
    const { gateway, pids } = newGateway();
    try {
      const results = await Promise.all([
        gateway.listTools(everythingStdio),
        ...Array.from({ length: 20 }, (_, i) =>
          gateway.callTool(everythingStdio, 'echo', { message: `c${i}` }, { timeoutMs: 10_000 }),
        ),
      ]);
      expect(results.slice(1).map((result) => (result as { content: string }).content)).toEqual(
        Array.from({ length: 20 }, (_, i) => `Echo: c${i}`),
      );
      expect(pids('everything')).toHaveLength(1);
      const [pid] = pids('everything');

      await gateway.close();
      await gateway.close(); // idempotent
      expect(isAlive(pid!)).toBe(false);
      await expect(gateway.callTool(everythingStdio, 'echo', { message: 'x' }, { timeoutMs: 1_000 })).rejects.toThrow(
        /closed/,
      );
    } finally {
      await gateway.close();
    }
  });
});

describe('McpToolGateway over Streamable HTTP: server-everything', () => {
  let port: number;
  let server: ChildProcess | undefined;
  const { gateway, connects } = newGateway();
  let everythingHttp: McpServerDeclaration;

  beforeAll(async () => {
    port = await freePort();
    server = await startEverythingHttp(port);
    everythingHttp = declare({
      name: 'everything-http',
      transport: { type: 'http', url: `http://127.0.0.1:${port}/mcp` },
    });
  });
  afterAll(async () => {
    await gateway.close();
    await stop(server);
  });

  it('lists and calls tools', async () => {
    const tools = await gateway.listTools(everythingHttp);
    expect(tools.map((tool) => tool.name)).toContain('echo');
    expect(await gateway.callTool(everythingHttp, 'echo', { message: 'over http' }, { timeoutMs: 5_000 })).toEqual({
      content: 'Echo: over http',
      isError: false,
    });
    const calls = 100;
    const started = performance.now();
    for (let i = 0; i < calls; i++)
      await gateway.callTool(everythingHttp, 'get-sum', { a: i, b: 1 }, { timeoutMs: 5_000 });
    console.info(`http get-sum: ${((performance.now() - started) / calls).toFixed(2)} ms per call`);
    expect(connects('everything-http')).toBe(1);
  });

  it('times out over HTTP too', async () => {
    const error = await caught(
      gateway.callTool(everythingHttp, 'trigger-long-running-operation', { duration: 1, steps: 1 }, { timeoutMs: 100 }),
    );
    expect(error).toBeInstanceOf(ToolTimeoutError);
  });

  it('reports a killed server as unavailable, then reconnects once it is back', async () => {
    await stop(server);
    const error = await caught(gateway.callTool(everythingHttp, 'echo', { message: 'anyone?' }, { timeoutMs: 5_000 }));
    expect(error).toBeInstanceOf(ToolUnavailableError);
    expect(error.message).toContain('"everything-http"');
    expect(error.message).toMatch(/ECONNREFUSED|fetch failed|stopped answering/);

    server = await startEverythingHttp(port);
    expect(
      (await gateway.callTool(everythingHttp, 'echo', { message: 'welcome back' }, { timeoutMs: 5_000 })).content,
    ).toBe('Echo: welcome back');
    expect(connects('everything-http')).toBe(2);
  });

  it('fails a call in flight when the server dies under it, without waiting for the timeout', async () => {
    const started = performance.now();
    const pending = caught(
      gateway.callTool(
        everythingHttp,
        'trigger-long-running-operation',
        { duration: 20, steps: 2 },
        { timeoutMs: 30_000 },
      ),
    );
    await new Promise((done) => setTimeout(done, 300));
    await stop(server);
    const error = await pending;
    expect(error).toBeInstanceOf(ToolUnavailableError);
    expect(performance.now() - started).toBeLessThan(10_000);

    server = await startEverythingHttp(port);
    expect((await gateway.callTool(everythingHttp, 'echo', { message: 'up' }, { timeoutMs: 5_000 })).content).toBe(
      'Echo: up',
    );
  });
});

describe('McpToolGateway with server-memory and server-filesystem', () => {
  let stateDir: string;
  let files: string;
  let gateway: McpToolGateway;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'looprail-mcp-state-'));
    files = await mkdtemp(join(tmpdir(), 'looprail-mcp-files-'));
    await writeFile(join(files, 'report.txt'), 'build 1234: 2 tests failed\n');
    gateway = newGateway({ stateDir: join(stateDir, 'nested') }).gateway;
  });
  afterAll(async () => {
    await gateway.close();
    await rm(stateDir, { recursive: true, force: true });
    await rm(files, { recursive: true, force: true });
  });

  it('round-trips entities through server-memory, stored under the state folder', async () => {
    const memory = declare({
      name: 'memory',
      transport: {
        type: 'stdio',
        command: 'mcp-server-memory',
        env: { MEMORY_FILE_PATH: '${LOOPRAIL_STATE_DIR}/memory.jsonl' },
      },
    });
    const created = await gateway.callTool(
      memory,
      'create_entities',
      { entities: [{ name: 'checkout-flake', entityType: 'issue', observations: ['fails on Mondays'] }] },
      { timeoutMs: 10_000 },
    );
    expect(created.isError).toBe(false);
    const graph = await gateway.callTool(memory, 'read_graph', {}, { timeoutMs: 10_000 });
    expect(graph.isError).toBe(false);
    expect(graph.content).toContain('checkout-flake');
    expect(graph.content).toContain('fails on Mondays');
    expect(await readFile(join(stateDir, 'nested', 'memory.jsonl'), 'utf8')).toContain('checkout-flake');
  });

  it('reads a file through server-filesystem rooted in a temp folder', async () => {
    const filesystem = declare({
      name: 'files',
      transport: { type: 'stdio', command: 'mcp-server-filesystem', args: [files] },
    });
    const tools = await gateway.listTools(filesystem);
    expect(tools.find((tool) => tool.name === 'write_file')?.annotations).toMatchObject({ readOnlyHint: false });

    const report = await gateway.callTool(
      filesystem,
      'read_text_file',
      { path: join(files, 'report.txt') },
      { timeoutMs: 10_000 },
    );
    expect(report).toEqual({ content: 'build 1234: 2 tests failed\n', isError: false });

    const outside = await gateway.callTool(
      filesystem,
      'read_text_file',
      { path: '/etc/hostname' },
      { timeoutMs: 10_000 },
    );
    expect(outside.isError).toBe(true);
    expect(outside.content).toMatch(/outside allowed directories/i);
  });

  it('refuses ${LOOPRAIL_STATE_DIR} when no state folder is configured', async () => {
    const bare = newGateway().gateway;
    const memory = declare({
      name: 'memory',
      transport: {
        type: 'stdio',
        command: 'mcp-server-memory',
        env: { MEMORY_FILE_PATH: '${LOOPRAIL_STATE_DIR}/m.jsonl' },
      },
    });
    await expect(bare.listTools(memory)).rejects.toBeInstanceOf(ConfigurationError);
    await bare.close();
  });
});

describe('McpToolGateway failures', () => {
  let dir: string;
  let fake: McpServerDeclaration;
  const { gateway, connects } = newGateway({ env: { LOOPRAIL_SECRET_FAKE_TOKEN: TOKEN } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'looprail-mcp-fake-'));
    await writeFile(join(dir, 'fake-server.mjs'), FAKE_SERVER);
    fake = declare({
      name: 'fake',
      transport: {
        type: 'stdio',
        command: 'node',
        args: [join(dir, 'fake-server.mjs')],
        env_secrets: { FAKE_TOKEN: 'fake-token' },
      },
    });
  });
  afterAll(async () => {
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives a clear ConfigurationError (permanent, never retried) for a command that does not exist', async () => {
    const missing = declare({ name: 'missing', transport: { type: 'stdio', command: 'no-such-mcp-server-xyz' } });
    const error = await caught(gateway.listTools(missing));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).not.toBeInstanceOf(ToolUnavailableError);
    expect(error.message).toMatch(/^MCP server "missing": could not start "no-such-mcp-server-xyz": .*ENOENT/);
  });

  it('includes the stderr tail when the server exits during startup', async () => {
    const dying = declare({
      name: 'dying',
      transport: {
        type: 'stdio',
        command: 'node',
        args: ['-e', 'console.error("boom: MY_SETTING is not set"); process.exit(2)'],
      },
    });
    const error = await caught(gateway.callTool(dying, 'anything', {}, { timeoutMs: 5_000 }));
    expect(error).toBeInstanceOf(ToolUnavailableError);
    expect(error.message).toContain('MCP server "dying": could not start "node": the server process exited');
    expect(error.message).toContain('boom: MY_SETTING is not set');
  });

  it('follows tools/list pagination', async () => {
    const tools = await gateway.listTools(fake);
    expect(tools.map((tool) => tool.name)).toEqual(['fail', 'garbage', 'bad-result', 'crash', 'echo-token']);
  });

  it('turns a JSON-RPC error for tools/call into an isError result, with secrets redacted', async () => {
    const result = await gateway.callTool(fake, 'fail', {}, { timeoutMs: 5_000 });
    expect(result).toEqual({ isError: true, content: 'MCP error -32602: invalid params (token [redacted])' });
  });

  it('redacts secret values from tool results', async () => {
    expect((await gateway.callTool(fake, 'echo-token', {}, { timeoutMs: 5_000 })).content).toBe('token=[redacted]');
  });

  it('treats a malformed result as unavailable', async () => {
    const error = await caught(gateway.callTool(fake, 'bad-result', {}, { timeoutMs: 5_000 }));
    expect(error).toBeInstanceOf(ToolUnavailableError);
    expect(error.message).toContain('MCP server "fake" answered bad-result outside the protocol');
  });

  it('treats garbage on stdout as a broken connection, then reconnects', async () => {
    const before = connects('fake');
    const started = performance.now();
    const error = await caught(gateway.callTool(fake, 'garbage', {}, { timeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(ToolUnavailableError);
    expect(error.message).toContain('not valid JSON-RPC');
    expect(performance.now() - started).toBeLessThan(5_000);
    expect((await gateway.callTool(fake, 'echo-token', {}, { timeoutMs: 5_000 })).isError).toBe(false);
    expect(connects('fake')).toBe(before + 1);
  });

  it('reports a crash mid-call with the redacted stderr tail', async () => {
    const error = await caught(gateway.callTool(fake, 'crash', {}, { timeoutMs: 5_000 }));
    expect(error).toBeInstanceOf(ToolUnavailableError);
    expect(error.message).toContain('MCP server "fake" is unavailable (crash)');
    expect(error.message).toContain('fatal: lost my token [redacted]');
    expect(error.message).toContain('fake server starting, token [redacted]');
    expect(error.message).not.toContain(TOKEN);
  });

  it('lets SecretNotFoundError through, naming the secret', async () => {
    const needsSecret = declare({
      name: 'needs-secret',
      transport: {
        type: 'stdio',
        command: 'node',
        args: [join(dir, 'fake-server.mjs')],
        env_secrets: { FAKE_TOKEN: 'not-there' },
      },
    });
    const error = await caught(gateway.listTools(needsSecret));
    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect(error.message).toContain('"not-there"');
  });

  it('gives up connecting after timeouts.connect', async () => {
    // Accepts the connection, never answers.
    const silent = createServer(() => {});
    const port = await listen(silent);
    try {
      const slow = declare({
        name: 'silent',
        transport: { type: 'http', url: `http://127.0.0.1:${port}/mcp` },
        timeouts: { connect: '1s' },
      });
      const started = performance.now();
      const error = await caught(gateway.listTools(slow));
      expect(error).toBeInstanceOf(ToolUnavailableError);
      expect(error.message).toBe(
        `MCP server "silent": could not reach http://127.0.0.1:${port}/mcp: no answer within 1 s`,
      );
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe('McpToolGateway auth headers', () => {
  const seen: IncomingHttpHeaders[] = [];
  let port: number;
  let everythingPort: number;
  let everything: ChildProcess | undefined;
  let proxy: Server;
  const secrets = { LOOPRAIL_SECRET_MCP_TOKEN: TOKEN };

  beforeAll(async () => {
    everythingPort = await freePort();
    everything = await startEverythingHttp(everythingPort);
    // Checks the bearer token, echoes a wrong one back in a 401 (as careless servers do),
    // and passes the right one through to server-everything.
    proxy = createServer((req, res) => {
      seen.push(req.headers);
      if (req.url === '/broken') {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`upstream failed for ${req.headers.authorization}`);
        return;
      }
      const authorized = req.headers.authorization === `Bearer ${TOKEN}` || req.headers['x-api-key'] === TOKEN;
      if (!authorized || req.url === '/deny') {
        res
          .writeHead(401, { 'content-type': 'text/plain' })
          .end(`invalid credentials: ${req.headers.authorization ?? req.headers['x-api-key']}`);
        return;
      }
      const upstream = httpRequest(
        { host: '127.0.0.1', port: everythingPort, path: '/mcp', method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    port = await listen(proxy);
  });
  afterAll(async () => {
    proxy.closeAllConnections();
    proxy.close();
    await stop(everything);
  });

  it('sends the secret as a bearer token', async () => {
    const { gateway } = newGateway({ env: secrets });
    const guarded = declare({
      name: 'guarded',
      transport: { type: 'http', url: `http://127.0.0.1:${port}/mcp` },
      auth: { secret: 'mcp-token' },
    });
    try {
      expect((await gateway.callTool(guarded, 'echo', { message: 'authorized' }, { timeoutMs: 5_000 })).content).toBe(
        'Echo: authorized',
      );
      expect(seen.at(-1)?.authorization).toBe(`Bearer ${TOKEN}`);
    } finally {
      await gateway.close();
    }
  });

  it('sends a bare value in a custom header when the scheme is empty', async () => {
    const { gateway } = newGateway({ env: secrets });
    const guarded = declare({
      name: 'keyed',
      transport: { type: 'http', url: `http://127.0.0.1:${port}/mcp` },
      auth: { secret: 'mcp-token', header: 'X-Api-Key', scheme: '' },
    });
    try {
      expect((await gateway.callTool(guarded, 'echo', { message: 'keyed' }, { timeoutMs: 5_000 })).content).toBe(
        'Echo: keyed',
      );
      expect(seen.at(-1)?.['x-api-key']).toBe(TOKEN);
    } finally {
      await gateway.close();
    }
  });

  it('reports refused credentials as a configuration problem that names the secret, never its value', async () => {
    const { gateway, lines } = newGateway({ env: secrets });
    const denied = declare({
      name: 'denied',
      transport: { type: 'http', url: `http://127.0.0.1:${port}/deny` },
      auth: { secret: 'mcp-token' },
    });
    try {
      const error = await caught(gateway.listTools(denied));
      expect(seen.at(-1)?.authorization).toBe(`Bearer ${TOKEN}`);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(error.message).toBe(
        'MCP server "denied" refused our credentials (HTTP 401); check the secret "mcp-token"',
      );
      expect(lines.join('\n')).not.toContain(TOKEN);
    } finally {
      await gateway.close();
    }
  });

  it('redacts the secret from an HTTP error body reported as unavailable', async () => {
    const { gateway } = newGateway({ env: secrets });
    const broken = declare({
      name: 'broken',
      transport: { type: 'http', url: `http://127.0.0.1:${port}/broken` },
      auth: { secret: 'mcp-token' },
    });
    try {
      const error = await caught(gateway.listTools(broken));
      expect(error).toBeInstanceOf(ToolUnavailableError);
      expect(error.message).toContain('upstream failed for Bearer [redacted]');
      expect(error.message).not.toContain(TOKEN);
    } finally {
      await gateway.close();
    }
  });
});
