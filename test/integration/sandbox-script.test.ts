import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BubblewrapSandboxes, SandboxCallError } from '../../adapters/sandbox/bubblewrap.ts';
import { ScriptBridgeHost, BRIDGE_MAX_PENDING } from '../../adapters/sandbox/script-bridge.ts';
import { SandboxSpec } from '../../core/definitions/sandbox.ts';
import type { Sandbox, ScriptToolCall, ScriptToolResult, ToolBridge } from '../../core/ports/sandbox.ts';

/**
 * Code mode in the local sandbox, with real bubblewrap and the host's Node: a script the
 * model wrote calls the run's tools through a bridge over its own pipes, and only what it
 * prints comes back. The bridge here is a fake gateway (the gateway's rules are core's).
 */

let root: string;
let orgDir: string;
let secretsFile: string;
let fakeKey: string;
let provider: BubblewrapSandboxes;
let count = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'looprail-script-test-'));
  await chmod(root, 0o711);
  orgDir = join(root, 'org');
  await mkdir(join(orgDir, 'repos', 'calc', 'src'), { recursive: true });
  await writeFile(join(orgDir, 'repos', 'calc', 'src', 'add.js'), 'module.exports = (a, b) => a + b;\n');
  await mkdir(join(root, 'project', '.looprail'), { recursive: true });
  fakeKey = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
  secretsFile = join(root, 'project', '.looprail', 'secrets.json');
  await writeFile(secretsFile, JSON.stringify({ 'github-token': fakeKey }));
  provider = new BubblewrapSandboxes({ root: join(root, 'sandboxes'), orgDir });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function open(
  overrides: Record<string, unknown> = {},
  sandboxes = provider,
): Promise<{ sandbox: Sandbox; sandboxId: string }> {
  const sandboxId = `r-script-${++count}`;
  const spec = SandboxSpec.parse({ command_timeout_seconds: 20, ...overrides });
  return { sandbox: await sandboxes.open({ sandboxId, agent: 'coder', spec, input: {} }), sandboxId };
}

/** A fake gateway: records every call and answers from `answer`. */
function gateway(
  answer: (call: ScriptToolCall) => ScriptToolResult | Promise<ScriptToolResult> = (call) => ({
    content: JSON.stringify(call.arguments),
    isError: false,
  }),
) {
  const calls: ScriptToolCall[] = [];
  const bridge: ToolBridge = async (call) => {
    calls.push(call);
    return answer(call);
  };
  return { calls, bridge };
}

/** Live processes of the sandbox's own uid on the host (zombies wait for init to reap them). */
async function processesOf(sandboxId: string): Promise<number> {
  const state = JSON.parse(await readFile(join(root, 'sandboxes', sandboxId, 'sandbox.json'), 'utf8')) as {
    uid: number;
  };
  let live = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^Uid:\\s+${state.uid}\\b`, 'm').test(status) && !/^State:\s+Z/m.test(status)) live += 1;
  }
  return live;
}

describe('a script calls tools through the bridge', () => {
  it('makes sequential and concurrent calls, reads their results, and returns only what it printed', async () => {
    const { sandbox } = await open();
    const { calls, bridge } = gateway((call) =>
      call.name === 'issues.get'
        ? {
            content: JSON.stringify({ id: call.arguments.id, title: `issue ${String(call.arguments.id)}` }),
            isError: false,
          }
        : { content: `echo:${JSON.stringify(call.arguments)}`, isError: false },
    );
    const code = [
      "const first = await tools.call('echo.say', { text: 'one' });",
      "const issues = await Promise.all([1, 2, 3].map((id) => tools.json('issues.get', { id })));",
      "const bare = await tools.call('echo.say');",
      'console.log(first);',
      "console.log(issues.map((issue) => issue.title).join(', '));",
      'console.error(bare);',
    ].join('\n');
    const used = sandbox.usedMs();
    const { value, durationMs } = await sandbox.runScript({ code, cwd: '.', timeoutSeconds: 20 }, bridge);
    expect(value).toMatchObject({ exitCode: 0, timedOut: false, outputFlood: false, truncated: false, toolCalls: 5 });
    expect(value.output).toBe('echo:{"text":"one"}\nissue 1, issue 2, issue 3\necho:{}\n');
    expect(calls.map((call) => call.name)).toEqual(['echo.say', 'issues.get', 'issues.get', 'issues.get', 'echo.say']);
    expect(
      calls
        .filter((call) => call.name === 'issues.get')
        .map((call) => call.arguments.id)
        .sort(),
    ).toEqual([1, 2, 3]);
    expect(calls[4]!.arguments).toEqual({});
    // Metered like exec: the script's time (its waits on the bridge included) is sandbox time.
    expect(sandbox.usedMs()).toBe(used + durationMs);
  });

  it('rejects with a ToolError carrying the content when a result is an error, a refusal or a failed bridge', async () => {
    const { sandbox } = await open();
    const { bridge } = gateway((call) => {
      if (call.name === 'github.delete_repo')
        return { content: 'refused: github.delete_repo is not granted to this agent', isError: true };
      if (call.name === 'flaky.get') throw new Error('the gateway is down');
      return { content: 'fine', isError: false };
    });
    const code = [
      'for (const name of ["github.delete_repo", "flaky.get"]) {',
      '  try {',
      '    await tools.call(name, {});',
      '  } catch (error) {',
      '    console.log(error instanceof ToolError, error.name, error.tool, JSON.stringify(error.content));',
      '  }',
      '}',
      "console.log(await tools.call('ok.get'));",
      "await tools.call('github.delete_repo', {});",
    ].join('\n');
    const { value } = await sandbox.runScript({ code, cwd: '.', timeoutSeconds: 20 }, bridge);
    expect(value.exitCode).toBe(1);
    expect(value.toolCalls).toBe(4);
    const lines = value.output.split('\n');
    expect(lines[0]).toBe(
      'true ToolError github.delete_repo "refused: github.delete_repo is not granted to this agent"',
    );
    expect(lines[1]).toBe('true ToolError flaky.get "the tool call failed: the gateway is down"');
    expect(lines[2]).toBe('fine');
    // Uncaught, it names the script's own line (9), not the preamble's.
    expect(value.output).toContain(
      'ToolError: github.delete_repo failed: refused: github.delete_repo is not granted to this agent',
    );
    expect(value.output).toMatch(/script\.mjs:9:\d+/);
    expect(value.output).not.toContain('tools.mjs');
  });

  it("reports the script's own errors with its own line numbers, and loads workspace files with require", async () => {
    const { sandbox } = await open({ copy_in: { repository: { path: 'repos/calc' } } });
    const { bridge } = gateway();
    const ok = await sandbox.runScript(
      {
        code: "const add = require('./add.js');\nconsole.log(add(2, 3), process.cwd());",
        cwd: 'src',
        timeoutSeconds: 20,
      },
      bridge,
    );
    expect(ok.value).toMatchObject({ exitCode: 0, output: '5 /workspace/src\n', toolCalls: 0 });
    const thrown = await sandbox.runScript(
      { code: 'const a = 1;\n\nnull.boom;\n', cwd: '.', timeoutSeconds: 20 },
      bridge,
    );
    expect(thrown.value.exitCode).toBe(1);
    expect(thrown.value.output).toMatch(/script\.mjs:3\b/);
    expect(thrown.value.output).toContain("TypeError: Cannot read properties of null (reading 'boom')");
    // Code that looks like shell or like the preamble's end is only ever JavaScript.
    const odd = await sandbox.runScript(
      { code: "// '; echo pwned; '\nconsole.log(`$(id -u)`, typeof tools.call);", cwd: '.', timeoutSeconds: 20 },
      bridge,
    );
    expect(odd.value.output).toBe('$(id -u) function\n');
  });

  it('refuses a request over 1 MB before it leaves the sandbox, and goes on', async () => {
    const { sandbox } = await open();
    const { calls, bridge } = gateway();
    const code = [
      'try {',
      "  await tools.call('files.put', { content: 'x'.repeat(2 * 1024 * 1024) });",
      '} catch (error) {',
      '  console.log(error.name, error.message);',
      '}',
      "console.log(await tools.call('files.put', { content: 'small' }));",
    ].join('\n');
    const { value } = await sandbox.runScript({ code, cwd: '.', timeoutSeconds: 20 }, bridge);
    expect(value.exitCode).toBe(0);
    expect(value.output).toMatch(
      /^RangeError tools\.call\('files\.put'\): the request is \d+ bytes, over the 1048576 byte limit\n\{"content":"small"\}\n$/,
    );
    expect(calls).toHaveLength(1);
  });

  it('answers garbage written straight to the bridge pipe without harm, and later calls still work', async () => {
    const { sandbox } = await open();
    const { calls, bridge } = gateway();
    const code = [
      "import { writeSync } from 'node:fs';",
      // The pipe is non-blocking (the preamble's socket): a big line goes out in pieces.
      "const put = (text) => { let rest = Buffer.from(text); while (rest.length > 0) { try { rest = rest.subarray(writeSync(3, rest)); } catch (error) { if (error.code !== 'EAGAIN') throw error; } } };",
      "put('not json at all\\n');",
      'put(\'{"id": 90001, "method": "shutdown"}\\n\');',
      'put(\'{"id": 90002, "method": "call", "name": 42}\\n\');',
      'put(\'{"id": 90003, "method": "call", "name": "a.b", "arguments": "xxx"}\\n\');',
      'put(\'{"id": 90004, "method": "call", "name": "big.put", "arguments": {"x": "\' + \'y\'.repeat(2 * 1024 * 1024) + \'"}}\\n\');',
      "put('[1,2,3]\\n\\n');",
      "console.log(await tools.call('echo.say', { after: 'garbage' }));",
    ].join('\n');
    const { value } = await sandbox.runScript({ code, cwd: '.', timeoutSeconds: 20 }, bridge);
    expect(value).toMatchObject({ exitCode: 0, output: '{"after":"garbage"}\n', toolCalls: 1 });
    expect(calls).toEqual([{ name: 'echo.say', arguments: { after: 'garbage' } }]);
  });

  it('kills a script that times out while a call is pending, and drops the result that comes later', async () => {
    const { sandbox, sandboxId } = await open();
    let answer!: (result: ScriptToolResult) => void;
    let called!: () => void;
    const calledPromise = new Promise<void>((resolveCalled) => {
      called = resolveCalled;
    });
    const bridge: ToolBridge = () => {
      called();
      return new Promise((resolveResult) => {
        answer = resolveResult;
      });
    };
    const code =
      "import { spawn } from 'node:child_process';\nspawn('sleep', ['600'], { detached: true, stdio: 'ignore' });\nconsole.log('waiting');\nconsole.log(await tools.call('slow.approve', {}));";
    const { value } = await sandbox.runScript({ code, cwd: '.', timeoutSeconds: 1 }, bridge);
    await calledPromise;
    expect(value).toMatchObject({ timedOut: true, exitCode: undefined, toolCalls: 1, output: 'waiting\n' });
    expect(await processesOf(sandboxId)).toBe(0);
    // The gateway answers after all: nothing is written anywhere, nothing breaks.
    answer({ content: 'approved', isError: false });
    await new Promise((resolveTick) => setImmediate(resolveTick));
    const next = await sandbox.runScript(
      { code: "console.log('next')", cwd: '.', timeoutSeconds: 20 },
      gateway().bridge,
    );
    expect(next.value).toMatchObject({ exitCode: 0, output: 'next\n' });
  });

  it('ends when the script ends, even with a call left unanswered; the late answer is dropped', async () => {
    const { sandbox } = await open();
    let answer!: (result: ScriptToolResult) => void;
    const bridge: ToolBridge = () =>
      new Promise((resolveResult) => {
        answer = resolveResult;
      });
    const { value } = await sandbox.runScript(
      {
        code: "tools.call('slow.get', {}).then(console.log);\nsetTimeout(() => process.exit(3), 50);",
        cwd: '.',
        timeoutSeconds: 20,
      },
      bridge,
    );
    expect(value).toMatchObject({ exitCode: 3, timedOut: false, toolCalls: 1, output: '' });
    answer({ content: 'late', isError: false });
  });

  it('keeps output to max_output_bytes and kills a script that floods', async () => {
    const { sandbox } = await open({ max_output_bytes: 1000 });
    const { bridge } = gateway();
    const some = await sandbox.runScript(
      { code: "for (let i = 0; i < 10000; i++) console.log('line ' + i);", cwd: '.', timeoutSeconds: 20 },
      bridge,
    );
    expect(some.value).toMatchObject({ exitCode: 0, truncated: true, outputFlood: false });
    expect(some.value.output).toHaveLength(1000);
    const flood = await sandbox.runScript(
      {
        code: "import { writeSync } from 'node:fs';\nconst chunk = 'x'.repeat(65536);\nfor (;;) writeSync(1, chunk);",
        cwd: '.',
        timeoutSeconds: 20,
      },
      bridge,
    );
    expect(flood.value).toMatchObject({ outputFlood: true, exitCode: undefined, truncated: true });
    expect(flood.value.output).toHaveLength(1000);
  });

  it('checks the workspace against disk_mb after the script', async () => {
    const { sandbox } = await open({ disk_mb: 2 });
    const { value } = await sandbox.runScript(
      {
        code: "import { writeFileSync } from 'node:fs';\nfor (const n of [1, 2, 3]) writeFileSync('part' + n, Buffer.alloc(1024 * 1024));",
        cwd: '.',
        timeoutSeconds: 20,
      },
      gateway().bridge,
    );
    expect(value.exitCode).toBe(0);
    expect(value.diskOverMb).toBeGreaterThanOrEqual(3);
  });

  it('says plainly when the sandbox has no Node to run scripts with', async () => {
    const noNode = new BubblewrapSandboxes({
      root: join(root, 'sandboxes'),
      orgDir,
      nodePath: '/usr/bin/no-such-node',
    });
    const { sandbox } = await open({}, noNode);
    const failed = sandbox.runScript({ code: "console.log('hi')", cwd: '.', timeoutSeconds: 20 }, gateway().bridge);
    await expect(failed).rejects.toThrow(SandboxCallError);
    await expect(failed).rejects.toThrow(
      'code mode needs Node.js in the sandbox, and it has none: "/usr/bin/no-such-node" is not there',
    );
  });
});

describe('a script is as contained as a command', () => {
  let server: Server;
  let port: number;
  let connections = 0;
  beforeAll(async () => {
    server = createServer((socket) => {
      connections += 1;
      socket.end('hello\n');
    });
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolveClose) => server.close(() => resolveClose())));

  it('has no network: not the host at 127.0.0.1, not another host, not DNS', async () => {
    const { sandbox } = await open();
    const code = [
      "import { connect } from 'node:net';",
      "import { lookup } from 'node:dns/promises';",
      "const attempt = (port, host) => new Promise((done) => connect(port, host).on('connect', () => done('CONNECTED')).on('error', (error) => done(error.code)));",
      `console.log(await attempt(${port}, '127.0.0.1'));`,
      "console.log(await attempt(53, '1.1.1.1'));",
      "console.log(await lookup('registry.npmjs.org').then(() => 'RESOLVED', (error) => error.code));",
    ].join('\n');
    const { value } = await sandbox.runScript({ code, cwd: '.', timeoutSeconds: 20 }, gateway().bridge);
    const [local, remote, dns] = value.output.trim().split('\n');
    expect(local).toBe('ECONNREFUSED');
    expect(remote).toMatch(/ENETUNREACH|EHOSTUNREACH/);
    expect(dns).not.toBe('RESOLVED');
    expect(connections).toBe(0);
  });

  it("cannot read the host's files, the project's secrets or write outside the workspace", async () => {
    const { sandbox } = await open();
    const marker = join(root, `escape-${Date.now()}`);
    const code = [
      "import { readFileSync, writeFileSync } from 'node:fs';",
      `for (const path of [${JSON.stringify(secretsFile)}, '/etc/shadow', ${JSON.stringify(`${process.cwd()}/package.json`)}]) {`,
      '  try { console.log(readFileSync(path, "utf8")); } catch (error) { console.log(error.code); }',
      '}',
      `try { writeFileSync(${JSON.stringify(marker)}, 'x'); console.log('WROTE'); } catch (error) { console.log(error.code); }`,
      'console.log(Object.keys(process.env).sort().join(","));',
    ].join('\n');
    const { value } = await sandbox.runScript({ code, cwd: '.', timeoutSeconds: 20 }, gateway().bridge);
    expect(value.output).not.toContain(fakeKey);
    expect(value.output.split('\n').slice(0, 4)).toEqual(['ENOENT', 'ENOENT', 'ENOENT', 'ENOENT']);
    expect(existsSync(marker)).toBe(false);
    expect(value.output.split('\n')[4]).toBe(
      [
        'GIT_AUTHOR_EMAIL',
        'GIT_AUTHOR_NAME',
        'GIT_COMMITTER_EMAIL',
        'GIT_COMMITTER_NAME',
        'GIT_CONFIG_NOSYSTEM',
        'GIT_TERMINAL_PROMPT',
        'HOME',
        'LANG',
        'PATH',
        'PWD',
        'TMPDIR',
        'USER',
      ].join(','),
    );
  });
});

describe("looprail's end of the bridge, fed directly", () => {
  function host(bridge: ToolBridge) {
    const requests = new PassThrough();
    const replies = new PassThrough();
    const lines: Array<Record<string, unknown>> = [];
    let text = '';
    replies.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const parts = text.split('\n');
      text = parts.pop()!;
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    const bridgeHost = new ScriptBridgeHost(requests, replies, bridge);
    const settle = () => new Promise((resolveTick) => setImmediate(resolveTick));
    return { requests, lines, bridgeHost, settle };
  }

  it('answers each bad request with an error naming its id, and drops lines it cannot answer', async () => {
    const { calls, bridge } = gateway();
    const { requests, lines, bridgeHost, settle } = host(bridge);
    requests.write('garbage\n{"no":"id"}\n');
    requests.write('{"id":1,"method":"eval","name":"x"}\n');
    requests.write('{"id":2,"method":"call","name":""}\n');
    requests.write('{"id":3,"method":"call","name":"a.b","arguments":[1]}\n');
    // Over 1 MB, in pieces: answered by the id it starts with, once its end arrives.
    requests.write('{"id":4,"method":"call","name":"a.b","arguments":{"x":"');
    for (let i = 0; i < 3; i++) requests.write('z'.repeat(512 * 1024));
    requests.write('"}}\n{"id":5,"meth');
    requests.write('od":"call","name":"a.b","arguments":{"ok":true}}\n');
    // Nested past what is parsed: refused on the text, by its id.
    requests.write(
      `{"id":6,"method":"call","name":"a.b","arguments":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}\n`,
    );
    await settle();
    await settle();
    expect(lines).toEqual([
      { id: 1, error: 'unknown method "eval" (expected "call")' },
      { id: 2, error: 'name: expected a tool name such as github.list_issues' },
      { id: 3, error: 'arguments: expected the arguments as an object' },
      { id: 4, error: 'the request is over the 1048576 byte limit' },
      // Refused at once; id 5's answer waits for its (asynchronous) call.
      {
        id: 6,
        error: expect.stringMatching(
          /^request, at request\.arguments\.x(\[0\])+.* nests deeper than 64 levels \(maxDepth 64\)$/,
        ),
      },
      { id: 5, content: '{"ok":true}', isError: false },
    ]);
    expect(calls).toEqual([{ name: 'a.b', arguments: { ok: true } }]);
    expect(bridgeHost.calls).toBe(1);
  });

  it('caps calls waiting at once, and ignores calls and answers once closed', async () => {
    const pending: Array<(result: ScriptToolResult) => void> = [];
    const { requests, lines, bridgeHost, settle } = host(
      () => new Promise((resolveResult) => pending.push(resolveResult)),
    );
    for (let id = 1; id <= BRIDGE_MAX_PENDING + 1; id++)
      requests.write(`${JSON.stringify({ id, method: 'call', name: 'slow.get', arguments: {} })}\n`);
    await settle();
    expect(bridgeHost.calls).toBe(BRIDGE_MAX_PENDING);
    expect(lines).toEqual([
      { id: BRIDGE_MAX_PENDING + 1, error: `too many tool calls waiting at once (at most ${BRIDGE_MAX_PENDING})` },
    ]);
    pending[0]!({ content: 'first', isError: false });
    await settle();
    expect(lines[1]).toEqual({ id: 1, content: 'first', isError: false });
    bridgeHost.close();
    pending[1]!({ content: 'late', isError: false });
    requests.write('{"id":999,"method":"call","name":"a.b"}\n');
    await settle();
    expect(lines).toHaveLength(2);
    expect(bridgeHost.calls).toBe(BRIDGE_MAX_PENDING);
  });
});
