import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_BODY_BYTES,
  startGatewayServer,
  type GatewayServer,
  type GatewayServerOptions,
} from '../../adapters/mcp/gateway-server.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { testHost } from '../support/local-host.ts';

/**
 * The gateway as an MCP server, on the local host (DynamoDB Local, the real reference MCP
 * servers) with real clients: the SDK's, and the MCP inspector's CLI, a client nobody
 * here wrote. Agent `denied` is granted `notes` (without delete_entities) and `everything`.
 */

const TOKEN = randomBytes(24).toString('base64url');
const AGENT = 'denied';
const INSPECTOR = join(process.cwd(), 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');

let host: LocalHost;
let gateway: GatewayServer;
const logs: string[] = [];
const temps: string[] = [];

beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org');
  gateway = await serve();
});
afterAll(async () => {
  await gateway?.close();
  await host?.close();
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

function serve(options: Partial<GatewayServerOptions> = {}): Promise<GatewayServer> {
  return startGatewayServer({
    deps: host.deps,
    agent: AGENT,
    principal: 'test:alice',
    token: TOKEN,
    log: (line) => logs.push(line),
    ...options,
  });
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-gateway-'));
  temps.push(dir);
  return dir;
}

/** An SDK client session; its run id is in the server's instructions. */
async function connect(url = gateway.url, token = TOKEN) {
  const client = new Client({ name: 'gateway-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  const runId = /tool session (\S+)/.exec(client.getInstructions() ?? '')?.[1];
  if (!runId) throw new Error(`no session id in the instructions: ${client.getInstructions()}`);
  return {
    client,
    runId,
    call: (name: string, args: Record<string, unknown>) =>
      client.callTool({ name, arguments: args }) as Promise<CallToolResult>,
    /** A well-behaved client's goodbye: DELETE the session, then close. */
    async end() {
      await transport.terminateSession();
      await client.close();
    },
  };
}

async function sessionRuns(): Promise<RunMeta[]> {
  return (await host.deps.store.listRuns({ agent: AGENT, limit: 200 })).filter((run) => run.trigger.kind === 'mcp');
}

const text = (result: CallToolResult) =>
  result.content.map((block) => (block.type === 'text' ? block.text : '')).join('');

describe('who may talk to the gateway', () => {
  it('answers a missing or wrong token with 401 and a JSON-RPC error, and opens no session', async () => {
    const before = (await sessionRuns()).length;
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
    };
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
    const bare = await fetch(gateway.url, { method: 'POST', headers, body: JSON.stringify(initialize) });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await bare.json()).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32001, message: expect.stringContaining('Unauthorized') },
    });
    const wrong = await fetch(gateway.url, {
      method: 'POST',
      headers: { ...headers, Authorization: `Bearer ${TOKEN}x` },
      body: JSON.stringify(initialize),
    });
    expect(wrong.status).toBe(401);
    await expect(connect(gateway.url, 'not-the-token')).rejects.toMatchObject({
      code: 401,
      message: expect.stringContaining('Unauthorized'),
    });
    expect((await sessionRuns()).length).toBe(before);
  });

  it('serves only /mcp, refuses other methods and bodies over 1 MB, and needs initialize first', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const before = (await sessionRuns()).length;
    expect((await fetch(new URL('/other', gateway.url), { headers: auth })).status).toBe(404);
    const put = await fetch(gateway.url, { method: 'PUT', headers: auth });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST, DELETE');
    const huge = await fetch(gateway.url, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/list',
        params: { padding: 'x'.repeat(MAX_BODY_BYTES) },
      }),
    });
    expect(huge.status).toBe(413);
    const deep = await fetch(gateway.url, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
    });
    expect(deep.status).toBe(400);
    expect(await deep.json()).toMatchObject({
      error: {
        message: expect.stringMatching(
          /^Invalid request: body, at body\.params\.x.* nests deeper than 64 levels \(maxDepth 64\)$/,
        ),
      },
    });
    const noSession = await fetch(gateway.url, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(noSession.status).toBe(400);
    expect(await noSession.json()).toMatchObject({ error: { message: expect.stringContaining('initialize') } });
    const unknownSession = await fetch(gateway.url, {
      method: 'DELETE',
      headers: { ...auth, 'Mcp-Session-Id': 'no-such-session' },
    });
    expect(unknownSession.status).toBe(404);
    expect((await sessionRuns()).length).toBe(before);
  });
});

describe('a session from the SDK client', () => {
  it("lists exactly the agent's granted, declared tools, with their flags and real schemas", async () => {
    const session = await connect();
    const { tools } = await session.client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      'everything__echo',
      'everything__get-sum',
      'everything__trigger-long-running-operation',
      'notes__add_observations',
      'notes__create_entities',
      'notes__open_nodes',
      'notes__read_graph',
      'notes__search_nodes',
    ]);
    const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]));
    expect(byName['notes__read_graph']!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(byName['notes__create_entities']!.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
    });
    expect(byName['everything__echo']!.inputSchema).toMatchObject({
      type: 'object',
      properties: { message: { type: 'string' } },
      required: ['message'],
    });
    await session.end();
  });

  it('runs a granted call, refuses bad arguments and ungranted tools as results, and records it all as one run', async () => {
    const session = await connect();
    const echoed = await session.call('everything__echo', { message: 'hello gateway' });
    expect(echoed.isError).toBe(false);
    expect(text(echoed)).toContain('hello gateway');

    const invalid = await session.call('everything__echo', { message: 42 });
    expect(invalid.isError).toBe(true);
    expect(text(invalid)).toMatch(/^invalid arguments for everything\.echo, so the call was not made/);

    const denied = await session.call('notes__delete_entities', { entityNames: ['x'] });
    expect(denied.isError).toBe(true);
    expect(text(denied)).toContain('refused: "notes__delete_entities" is not a tool this agent may use');
    const undeclared = await session.call('everything__get-env', {});
    expect(undeclared.isError).toBe(true);
    expect(text(undeclared)).toContain('refused');

    await session.end();
    const meta = (await host.deps.store.getRun(session.runId))!;
    expect(meta).toMatchObject({
      agent: AGENT,
      principal: 'test:alice',
      trigger: { kind: 'mcp', detail: 'gateway-test/1.0.0' },
      status: 'finished',
      stopReason: 'completed',
      toolCalls: 1,
    });
    const trace = await host.deps.store.listTrace(session.runId);
    expect(trace.map((event) => [event.kind, event.name, event.status])).toEqual([
      ['run_started', AGENT, 'ok'],
      ['tool_call', 'everything.echo', 'ok'],
      ['tool_call', 'everything.echo', 'error'],
      ['tool_denied', 'notes__delete_entities', 'denied'],
      ['tool_denied', 'everything__get-env', 'denied'],
      ['run_finished', AGENT, 'ok'],
    ]);
    // The invalid call never reached the server: no attempt was made.
    expect(trace[2]).toMatchObject({ attempt: 0, latencyMs: 0, detail: expect.stringContaining('invalid arguments') });
    expect(trace[1]!.attempt).toBe(1);
  });

  it("runs one session's concurrent calls one at a time, in order", async () => {
    const session = await connect();
    const results = await Promise.all([1, 2, 3, 4].map((n) => session.call('everything__get-sum', { a: n, b: 10 })));
    expect(results.map((result) => [result.isError, text(result)])).toEqual(
      [1, 2, 3, 4].map((n) => [false, expect.stringContaining(String(n + 10))]),
    );
    await session.end();
    const calls = (await host.deps.store.listTrace(session.runId)).filter((event) => event.kind === 'tool_call');
    expect(calls.map((event) => event.callId)).toEqual(['call-1', 'call-2', 'call-3', 'call-4']);
  });
});

describe('when something goes wrong inside the gateway', () => {
  it('answers a call it cannot record with a clear JSON-RPC error, logs it, and keeps serving', async () => {
    const broken = { down: false };
    const store = new Proxy(host.deps.store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'loadState' || typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          broken.down
            ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8000'))
            : (value as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    const deps: RunDeps = { ...host.deps, store };
    const flaky = await serve({ deps });
    try {
      const session = await connect(flaky.url);
      broken.down = true;
      await expect(session.call('everything__echo', { message: 'lost' })).rejects.toThrow(
        /looprail could not run or record the call to everything__echo: connect ECONNREFUSED/,
      );
      expect(logs.some((line) => line.includes(session.runId) && line.includes('ECONNREFUSED'))).toBe(true);
      broken.down = false;
      const again = await session.call('everything__echo', { message: 'back' });
      expect(text(again)).toContain('back');
      await session.end();
    } finally {
      await flaky.close();
    }
  });

  it('closes every open session when the gateway closes, and a session left idle', async () => {
    const short = await serve({ idleTimeoutMs: 300 });
    const idle = await connect(short.url);
    let status: string | undefined;
    await waitFor(
      () => status === 'finished',
      () => `the idle session is still ${status}`,
      10_000,
      async () => {
        status = (await host.deps.store.getRun(idle.runId))?.status;
      },
    );
    expect(logs).toContain(`mcp-gateway: session ${idle.runId} idle for 0 s; closing it`);
    await expect(idle.client.listTools()).rejects.toThrow(/404|Session not found/);

    const open = await connect(short.url);
    await short.close();
    expect((await host.deps.store.getRun(open.runId))!).toMatchObject({
      status: 'finished',
      stopReason: 'completed',
      stopDetail: 'the tool session ended',
    });
    await idle.client.close();
    await open.client.close();
  });
});

describe('a client nobody here wrote: the MCP inspector CLI', () => {
  const run = promisify(execFile);

  async function inspector(url: string, home: string, ...args: string[]): Promise<unknown> {
    // Its own HOME: the inspector keeps a catalog and storage under ~/.mcp-inspector.
    const { stdout } = await run(
      process.execPath,
      [
        INSPECTOR,
        '--cli',
        url,
        '--transport',
        'http',
        '--header',
        `Authorization: Bearer ${TOKEN}`,
        '--format',
        'json',
        ...args,
      ],
      { env: { ...process.env, HOME: home, NO_COLOR: '1' }, timeout: 60_000 },
    );
    return JSON.parse(stdout) as unknown;
  }

  it('lists the tools and makes a call that shows up in its session trace', async () => {
    const home = await tempDir();
    const own = await serve();
    try {
      const listed = (await inspector(own.url, home, '--method', 'tools/list')) as {
        result: { tools: Array<{ name: string }> };
      };
      expect(listed.result.tools.map((tool) => tool.name)).toContain('everything__echo');
      expect(listed.result.tools.map((tool) => tool.name)).not.toContain('notes__delete_entities');
      const called = await inspector(
        own.url,
        home,
        '--method',
        'tools/call',
        '--tool-name',
        'everything__echo',
        '--tool-arg',
        'message=from the inspector',
      );
      expect(called).toEqual({
        result: { content: [{ type: 'text', text: 'Echo: from the inspector' }], isError: false },
      });
    } finally {
      // The inspector exits without a DELETE: closing the gateway closes its sessions.
      await own.close();
    }
    const sessions = (await sessionRuns()).filter((run) => run.trigger.detail?.startsWith('inspector-cli/'));
    expect(sessions).toHaveLength(2);
    expect(sessions.every((session) => session.status === 'finished')).toBe(true);
    const traces = await Promise.all(sessions.map((session) => host.deps.store.listTrace(session.runId)));
    const echoes = traces.flat().filter((event) => event.kind === 'tool_call');
    expect(echoes).toMatchObject([{ name: 'everything.echo', status: 'ok', server: 'everything', tool: 'echo' }]);
  });
});

describe('looprail mcp-gateway', () => {
  it('prints the URL and a ready-to-paste config with a random token, serves it, and closes cleanly on Ctrl-C', async () => {
    const state = await tempDir();
    const child = spawn(
      process.execPath,
      ['bin/looprail.js', 'mcp-gateway', AGENT, '--org', 'test/fixtures/loop-org', '--state-dir', state],
      {
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(
        () => stdout.includes('Ctrl-C stops the gateway'),
        () => `no banner; stdout: ${stdout}\nstderr: ${stderr}`,
      );
      const url = /on (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stdout)![1]!;
      const token = /"Authorization": "Bearer ([^"]+)"/.exec(stdout)![1]!;
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(stdout.split(token).length - 1).toBe(3); // the token line, the JSON config, the claude command
      const session = await connect(url, token);
      expect((await session.client.listTools()).tools.length).toBe(8);
      await session.client.close();
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toContain(`session ${session.runId} closed`);
      expect(stderr).not.toContain(token);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});

async function waitFor(
  ready: () => boolean,
  explain: () => string,
  timeoutMs = 120_000,
  poll: () => Promise<void> = async () => {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (await poll(); !ready(); await poll()) {
    if (Date.now() > deadline) throw new Error(explain());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
