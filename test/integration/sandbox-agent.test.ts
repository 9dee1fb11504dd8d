import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveProcessesOf } from '../../containers/sandbox-agent/launcher.ts';
import {
  createSandboxAgent,
  type SandboxAgentOptions,
  type SandboxAgentServer,
} from '../../containers/sandbox-agent/server.ts';
import { ErrorBody, ExecResponse, InitResponse, ScriptEvent } from '../../adapters/sandbox/protocol.ts';
import { tokenDigest } from '../../adapters/sandbox/tokens.ts';
import { packFolder } from '../../infra/sandbox-image/repo-archive.ts';
import { reachableNode } from '../support/sandbox-agent.ts';

/**
 * The sandbox agent that runs inside a sandbox's container on AWS, run here in-process
 * on 127.0.0.1 with a workspace in a temp folder, driven over plain HTTP as the broker
 * drives it. Commands run as a uid of the test's own (the agent runs as root and drops
 * to it), as in the container.
 */

const isRoot = process.getuid?.() === 0;
const CALC = join(process.cwd(), 'test/fixtures/sandbox-org/repos/calc');

interface Agent {
  url: string;
  token: string;
  uid: number;
  dir: string;
  server: SandboxAgentServer;
  logs: Array<Record<string, unknown>>;
  exits: number[];
  call: (
    path: string,
    body?: unknown,
    init?: { token?: string | null; method?: string; raw?: string },
  ) => Promise<{ status: number; json: any }>;
  close: () => Promise<void>;
}

let root: string;

async function startAgent(overrides: Partial<SandboxAgentOptions> = {}): Promise<Agent> {
  const dir = await mkdtemp(join(root, 'agent-'));
  await chmod(dir, 0o711);
  const token = randomBytes(32).toString('hex');
  // A uid no one on this host uses: everything of it is the sandbox's (and is killed after each command).
  const uid = 400_000 + randomInt(100_000);
  const logs: Array<Record<string, unknown>> = [];
  const exits: number[] = [];
  const server = createSandboxAgent({
    tokenSha256: tokenDigest(token),
    workspace: join(dir, 'workspace'),
    home: join(dir, 'home'),
    tmp: join(dir, 'tmp'),
    uid,
    prlimitPath: '/usr/bin/prlimit',
    nodePath: await reachableNode(),
    log: (entry) => logs.push(entry),
    exit: (code) => exits.push(code),
    ...overrides,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call: Agent['call'] = async (path, body, init = {}) => {
    const presented = init.token === undefined ? token : init.token;
    const response = await fetch(url + path, {
      method: init.method ?? (body === undefined && init.raw === undefined ? 'GET' : 'POST'),
      headers: {
        ...(presented === null ? {} : { authorization: `Bearer ${presented}` }),
        'content-type': 'application/json',
      },
      ...(init.raw !== undefined ? { body: init.raw } : body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: await response.json() };
  };
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url, token, uid, dir, server, logs, exits, call, close };
}

function archiveOf(dir: string): string {
  return packFolder(dir).bytes.toString('base64');
}

const SPEC = { command_timeout_seconds: 20, max_output_bytes: 1000 };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'looprail-agent-test-'));
  await chmod(root, 0o711);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe.skipIf(!isRoot)(
  'the sandbox agent (runs as root, as in its container; skipped when the tests do not run as root)',
  () => {
    let agent: Agent;
    beforeAll(async () => {
      agent = await startAgent();
    });
    afterAll(async () => {
      await agent.close();
    });

    it('refuses a request without the token, or with another, and does nothing for it', async () => {
      const init = { spec: SPEC, repository: { archive: archiveOf(CALC) } };
      for (const token of [null, randomBytes(32).toString('hex'), '']) {
        const refused = await agent.call('/v1/init', init, { token });
        expect(refused.status).toBe(401);
        expect(ErrorBody.parse(refused.json).error.name).toBe('looprail.Unauthorized');
      }
      expect(
        (await agent.call('/v1/exec', { command: 'touch pwned', cwd: '.', timeoutSeconds: 5 }, { token: 'nope' }))
          .status,
      ).toBe(401);
      expect((await agent.call('/v1/nowhere', {}, { token: null })).status).toBe(401);
      expect((await agent.call('/v1/health')).json).toEqual({ ready: false, usedMs: 0 });
      expect(existsSync(join(agent.dir, 'workspace'))).toBe(false);
      // Before init every operation waits for it.
      const early = await agent.call('/v1/exec', { command: 'true', cwd: '.', timeoutSeconds: 5 });
      expect(early).toMatchObject({ status: 409, json: { error: { name: 'looprail.SandboxNotReady' } } });
      const earlyScript = await agent.call('/v1/scripts', { code: '1', cwd: '.', timeoutSeconds: 5 });
      expect(earlyScript.status).toBe(409);
    });

    it('answers bad requests with what was wrong: route, method, JSON, schema, size', async () => {
      expect(await agent.call('/v1/nowhere', {})).toMatchObject({
        status: 404,
        json: { error: { name: 'looprail.NotFound', message: 'no route /v1/nowhere' } },
      });
      expect(await agent.call('/v1/exec', undefined, { method: 'GET' })).toMatchObject({
        status: 405,
        json: { error: { name: 'looprail.MethodNotAllowed', message: '/v1/exec takes POST, not GET' } },
      });
      const notJson = await agent.call('/v1/init', undefined, { raw: '{"spec": ' });
      expect(notJson.status).toBe(400);
      expect(notJson.json.error.message).toMatch(/^the body is not JSON: /);
      const badSpec = await agent.call('/v1/init', { spec: { memory_mb: 'lots' } });
      expect(badSpec.status).toBe(400);
      expect(badSpec.json.error).toMatchObject({ name: 'looprail.BadRequest' });
      expect(badSpec.json.error.message).toContain('spec.memory_mb');
      const badFile = await agent.call('/v1/init', { spec: SPEC, files: [{ path: '../outside.txt', content: 'x' }] });
      expect(badFile.status).toBe(400);
      expect(badFile.json.error.message).toContain(
        'files.0.path: expected a path relative to the workspace, without a leading / or any ..',
      );
      const huge = await agent.call('/v1/write', undefined, {
        raw: JSON.stringify({ path: 'big.txt', content: 'x'.repeat(9 * 1024 * 1024) }),
      });
      expect(huge).toMatchObject({ status: 413, json: { error: { name: 'looprail.PayloadTooLarge' } } });
      expect(existsSync(join(agent.dir, 'workspace'))).toBe(false);
    });

    it('refuses a repository it cannot unpack safely, and a clone that is not https', async () => {
      const outside = join(root, 'escape');
      await mkdir(outside, { recursive: true });
      await writeFile(join(outside, 'evil.txt'), 'pwned\n');
      const evil = execFileSync('tar', [
        '-czf',
        '-',
        '-P',
        '-C',
        outside,
        '--transform',
        's,^,../,',
        'evil.txt',
      ]).toString('base64');
      const refused = await agent.call('/v1/init', { spec: SPEC, repository: { archive: evil } });
      expect(refused).toMatchObject({
        status: 400,
        json: {
          error: {
            name: 'looprail.BadRequest',
            message: 'repository.archive has an entry outside the workspace: ../evil.txt',
          },
        },
      });
      expect(existsSync(join(agent.dir, 'evil.txt'))).toBe(false);
      const garbage = await agent.call('/v1/init', {
        spec: SPEC,
        repository: { archive: Buffer.from('not a tarball').toString('base64') },
      });
      expect(garbage.status).toBe(400);
      expect(garbage.json.error.message).toMatch(/^repository\.archive is not a readable \.tar\.gz/);
      const notBase64 = await agent.call('/v1/init', { spec: SPEC, repository: { archive: '%%%' } });
      expect(notBase64.json.error.message).toBe('invalid request body: repository.archive: expected a base64 .tar.gz');
      const file = await agent.call('/v1/init', { spec: SPEC, repository: { url: 'file:///etc', ref: 'HEAD' } });
      expect(file).toMatchObject({
        status: 400,
        json: { error: { message: 'invalid request body: repository.url: expected an https:// URL' } },
      });
      expect((await agent.call('/v1/health')).json.ready).toBe(false);
    });

    describe('once initialized from an archive and files', () => {
      let base: string;
      beforeAll(async () => {
        const answer = await agent.call('/v1/init', {
          spec: SPEC,
          repository: { archive: archiveOf(CALC) },
          files: [{ path: 'task/issue.txt', content: 'sum() starts at 1' }],
        });
        expect(answer.status).toBe(200);
        base = InitResponse.parse(answer.json).base;
      });

      it('is ready, and a second init answers with the same state', async () => {
        expect((await agent.call('/v1/health')).json.ready).toBe(true);
        const again = await agent.call('/v1/init', {
          spec: { ...SPEC, max_output_bytes: 5 },
          files: [{ path: 'other.txt', content: 'x' }],
        });
        expect(again.status).toBe(200);
        expect(again.json.base).toBe(base);
        expect((await agent.call('/v1/read', { path: 'other.txt', maxBytes: 10 })).status).toBe(422);
      });

      it('reads, writes, lists and diffs against what was copied in', async () => {
        const listed = await agent.call('/v1/list', { path: '.', maxDepth: 3, maxEntries: 100 });
        expect(listed.json.value).toEqual({
          entries: ['README.md', 'src/', 'src/sum.js', 'task/', 'task/issue.txt', 'test.js'],
          truncated: false,
        });
        expect(listed.json.usedMs).toBeGreaterThanOrEqual(listed.json.durationMs);
        expect((await agent.call('/v1/read', { path: 'task/issue.txt', maxBytes: 100 })).json.value).toEqual({
          content: 'sum() starts at 1',
          bytes: 17,
          truncated: false,
        });
        expect((await agent.call('/v1/diff', { maxBytes: 10_000 })).json.value).toEqual({
          content: '',
          bytes: 0,
          truncated: false,
        });
        const fixed = (await readFile(join(CALC, 'src/sum.js'), 'utf8')).replace('let total = 1', 'let total = 0');
        const wrote = await agent.call('/v1/write', { path: 'src/sum.js', content: fixed });
        expect(wrote.json.value).toEqual({ bytes: Buffer.byteLength(fixed) });
        expect(
          ExecResponse.parse(
            (await agent.call('/v1/exec', { command: 'node test.js', cwd: '.', timeoutSeconds: 20 })).json,
          ).value,
        ).toMatchObject({ exitCode: 0, output: 'all tests passed\n' });
        const diff = await agent.call('/v1/diff', { maxBytes: 10_000 });
        expect(diff.json.value.content).toContain('-  let total = 1;\n+  let total = 0;');
        const missing = await agent.call('/v1/read', { path: 'nope.txt', maxBytes: 10 });
        expect(missing).toMatchObject({
          status: 422,
          json: { error: { name: 'looprail.SandboxCall', message: 'could not read nope.txt: no such file: nope.txt' } },
        });
        // Escapes are refused by the schema, before anything runs.
        for (const [path, body] of [
          ['/v1/read', { path: '../../etc/passwd', maxBytes: 10 }],
          ['/v1/write', { path: '/etc/x', content: 'x' }],
          ['/v1/list', { path: 'src/../..', maxDepth: 1, maxEntries: 10 }],
          ['/v1/exec', { command: 'ls', cwd: '..', timeoutSeconds: 5 }],
        ] as const) {
          const refused = await agent.call(path, body);
          expect(refused.status, path).toBe(400);
          expect(refused.json.error.message).toMatch(/^invalid request body: (path|cwd): /);
        }
      });

      it('runs commands as its own uid with nothing of the agent environment, and cuts their output', async () => {
        const fake = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
        process.env.AWS_ACCESS_KEY_ID = fake;
        try {
          const ran = await agent.call('/v1/exec', {
            command:
              'id -u; id -G; pwd; env | cut -d= -f1 | sort | tr "\\n" " "; echo; node -e "console.log(process.getuid())"',
            cwd: '.',
            timeoutSeconds: 20,
          });
          const { value } = ExecResponse.parse(ran.json);
          expect(value.exitCode).toBe(0);
          const [uid, groups, pwd, names, nodeUid] = value.output.split('\n');
          expect(uid).toBe(String(agent.uid));
          expect(groups).toBe(String(agent.uid));
          expect(pwd).toBe(join(agent.dir, 'workspace'));
          expect(names!.trim().split(' ')).toEqual([
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
          ]);
          expect(value.output).not.toContain(fake);
          expect(nodeUid).toBe(String(agent.uid));
        } finally {
          delete process.env.AWS_ACCESS_KEY_ID;
        }
        const cut = ExecResponse.parse(
          (await agent.call('/v1/exec', { command: 'seq 1 100000', cwd: '.', timeoutSeconds: 20 })).json,
        ).value;
        expect(cut).toMatchObject({ exitCode: 0, truncated: true, outputBytes: 588895 });
        expect(cut.output).toHaveLength(1000);
        const inSub = ExecResponse.parse(
          (
            await agent.call('/v1/exec', {
              command: 'pwd; echo $HOME; ls -A "$HOME" "$TMPDIR" | wc -l',
              cwd: 'src',
              timeoutSeconds: 20,
            })
          ).json,
        ).value;
        expect(inSub.output.split('\n').slice(0, 2)).toEqual([
          join(agent.dir, 'workspace', 'src'),
          join(agent.dir, 'home'),
        ]);
        const gone = ExecResponse.parse(
          (await agent.call('/v1/exec', { command: 'ls', cwd: 'nowhere', timeoutSeconds: 20 })).json,
        ).value;
        expect(gone.exitCode).not.toBe(0);
        expect(gone.output).toContain("can't cd to");
      });

      it('kills a command at its timeout with what it started, and what a finished command left behind', async () => {
        const timedOut = await agent.call('/v1/exec', {
          command: '(sleep 600 &) ; setsid sleep 600 & sleep 600',
          cwd: '.',
          timeoutSeconds: 1,
        });
        expect(timedOut.json.value).toMatchObject({ timedOut: true, outputFlood: false });
        expect(timedOut.json.value.exitCode).toBeUndefined();
        expect(await liveProcessesOf(agent.uid)).toEqual([]);
        const leftBehind = await agent.call('/v1/exec', {
          command: 'sleep 100 & echo started',
          cwd: '.',
          timeoutSeconds: 20,
        });
        expect(leftBehind.json.value).toMatchObject({ exitCode: 0, timedOut: false, output: 'started\n' });
        expect(await liveProcessesOf(agent.uid)).toEqual([]);
        // HOME and TMPDIR start empty for each command, like a local command's tmpfs.
        await agent.call('/v1/exec', { command: 'touch "$HOME/kept" "$TMPDIR/kept"', cwd: '.', timeoutSeconds: 20 });
        expect(
          (await agent.call('/v1/exec', { command: 'ls -A "$HOME" "$TMPDIR"', cwd: '.', timeoutSeconds: 20 })).json
            .value.output,
        ).not.toContain('kept');
      });

      it('runs one operation at a time, so cleaning up after one never kills another', async () => {
        const [slow, quick, read] = await Promise.all([
          agent.call('/v1/exec', { command: 'sleep 1; echo slow', cwd: '.', timeoutSeconds: 20 }),
          agent.call('/v1/exec', { command: 'echo quick', cwd: '.', timeoutSeconds: 20 }),
          agent.call('/v1/read', { path: 'README.md', maxBytes: 6 }),
        ]);
        expect(slow.json.value).toMatchObject({ exitCode: 0, output: 'slow\n' });
        expect(quick.json.value).toMatchObject({ exitCode: 0, output: 'quick\n' });
        expect(read.json.value).toMatchObject({ content: '# calc', truncated: true });
      });

      it('contains a fork bomb: the process limit holds, and nothing of it is left', async () => {
        const bombed = await startAgent();
        try {
          await bombed.call('/v1/init', { spec: { ...SPEC, max_processes: 32 } });
          const bomb = await bombed.call('/v1/exec', {
            command: 'bomb() { bomb | bomb & }; bomb; sleep 30',
            cwd: '.',
            timeoutSeconds: 3,
          });
          expect(
            bomb.json.value.timedOut === true ||
              /Cannot fork|Resource temporarily unavailable/.test(bomb.json.value.output),
          ).toBe(true);
          expect(await liveProcessesOf(bombed.uid)).toEqual([]);
          expect(
            (await bombed.call('/v1/exec', { command: 'echo still ok', cwd: '.', timeoutSeconds: 5 })).json.value
              .output,
          ).toBe('still ok\n');
        } finally {
          await bombed.close();
        }
      });

      it('kills a command that floods its output', async () => {
        const flood = await agent.call('/v1/exec', {
          command: 'head -c 4000000000 /dev/zero',
          cwd: '.',
          timeoutSeconds: 60,
        });
        expect(flood.json.value).toMatchObject({ outputFlood: true, truncated: true });
        expect(flood.json.value.outputBytes).toBeLessThan(100 * 1024 * 1024);
        expect(await liveProcessesOf(agent.uid)).toEqual([]);
      });

      it('runs a script in rounds: the calls it asks for, their results, its end', async () => {
        const code = [
          "const [a, b] = await Promise.all([tools.call('echo.say', { n: 1 }), tools.call('echo.say', { n: 2 })]);",
          'console.log(a, b);',
          'try {',
          "  await tools.call('github.delete_repo', {});",
          '} catch (error) {',
          '  console.log(error.name, error.content);',
          '}',
        ].join('\n');
        let event = ScriptEvent.parse(
          (await agent.call('/v1/scripts', { code, cwd: '.', timeoutSeconds: 20, waitMs: 20_000 })).json,
        );
        const asked: Array<{ name: string; arguments: Record<string, unknown> }> = [];
        let rounds = 0;
        while (event.state !== 'done') {
          rounds += 1;
          const results =
            event.state === 'calls'
              ? event.calls.map((call) => {
                  asked.push({ name: call.name, arguments: call.arguments });
                  return call.name === 'github.delete_repo'
                    ? { callId: call.callId, content: 'refused: not granted', isError: true }
                    : { callId: call.callId, content: `said ${JSON.stringify(call.arguments)}`, isError: false };
                })
              : [];
          const answer = await agent.call(`/v1/scripts/${event.scriptId}/results`, { results, waitMs: 20_000 });
          expect(answer.status).toBe(200);
          event = ScriptEvent.parse(answer.json);
          expect(rounds).toBeLessThan(20);
        }
        expect(event.value).toMatchObject({
          exitCode: 0,
          toolCalls: 3,
          output: 'said {"n":1} said {"n":2}\nToolError refused: not granted\n',
        });
        expect(asked.map((call) => call.name).sort()).toEqual(['echo.say', 'echo.say', 'github.delete_repo']);
        expect(event.usedMs).toBeGreaterThanOrEqual(event.durationMs);
        // A repeated poll (a retried request) gets the same end; results for calls it never asked for are refused.
        const repeated = await agent.call(`/v1/scripts/${event.scriptId}/results`, { results: [], waitMs: 1000 });
        expect(ScriptEvent.parse(repeated.json)).toMatchObject({ state: 'done', scriptId: event.scriptId });
        const unknownCall = await agent.call(`/v1/scripts/${event.scriptId}/results`, {
          results: [{ callId: 'c999', content: 'x', isError: false }],
        });
        expect(unknownCall).toMatchObject({
          status: 400,
          json: { error: { message: `results.callId: script ${event.scriptId} asked for no call c999` } },
        });
        expect((await agent.call('/v1/scripts/s-000000000000000000000000/results', { results: [] })).status).toBe(404);
      });

      it('kills a script whose results never come back at its timeout, and says it is still running meanwhile', async () => {
        const started = ScriptEvent.parse(
          (
            await agent.call('/v1/scripts', {
              code: "console.log('asking');\nawait tools.call('slow.approve', {});",
              cwd: '.',
              timeoutSeconds: 2,
              waitMs: 20_000,
            })
          ).json,
        );
        expect(started).toMatchObject({
          state: 'calls',
          calls: [{ callId: expect.any(String), name: 'slow.approve', arguments: {} }],
        });
        // No results: a short poll says it still runs; then it is killed at its timeout.
        let event = ScriptEvent.parse(
          (await agent.call(`/v1/scripts/${started.scriptId}/results`, { results: [], waitMs: 1 })).json,
        );
        expect(['running', 'done']).toContain(event.state);
        while (event.state !== 'done')
          event = ScriptEvent.parse(
            (await agent.call(`/v1/scripts/${started.scriptId}/results`, { results: [], waitMs: 20_000 })).json,
          );
        expect(event.value).toMatchObject({ timedOut: true, toolCalls: 1, output: 'asking\n' });
        expect(await liveProcessesOf(agent.uid)).toEqual([]);
        // The result that comes after all changes nothing.
        const late = await agent.call(`/v1/scripts/${started.scriptId}/results`, {
          results: [
            { callId: started.state === 'calls' ? started.calls[0]!.callId : '', content: 'approved', isError: false },
          ],
          waitMs: 1,
        });
        expect(ScriptEvent.parse(late.json).state).toBe('done');
      });

      it('logs one line per request: the operation, its status and duration, never a command, a content or the token', async () => {
        const entries = agent.logs.filter((entry) => entry.op !== undefined);
        expect(entries.length).toBeGreaterThan(10);
        for (const entry of entries)
          expect(Object.keys(entry).sort()).toEqual(['durationMs', 'method', 'op', 'status']);
        expect(entries).toContainEqual(expect.objectContaining({ op: 'exec', method: 'POST', status: 200 }));
        expect(entries).toContainEqual(expect.objectContaining({ op: 'init', status: 401 }));
        const text = JSON.stringify(agent.logs);
        expect(text).not.toContain(agent.token);
        expect(text).not.toContain('seq 1 100000');
        expect(text).not.toContain('sum() starts at 1');
      });
    });

    describe('its lifetime', () => {
      it('exits after its idle time, not while a request runs', async () => {
        const idle = await startAgent({ idleSeconds: 0.3 });
        try {
          await idle.call('/v1/init', { spec: SPEC });
          const ran = await idle.call('/v1/exec', { command: 'sleep 2; echo done', cwd: '.', timeoutSeconds: 20 });
          expect(ran.json.value.output).toBe('done\n');
          await until(() => idle.exits.length > 0);
          expect(idle.exits).toEqual([0]);
          // The command ran far longer than the idle time, and the exit came only after its answer.
          const exec = idle.logs.findIndex((entry) => entry.op === 'exec');
          const exit = idle.logs.findIndex((entry) => entry.event === 'exit');
          expect(idle.logs[exit]).toEqual({ event: 'exit', reason: 'idle' });
          expect(exec).toBeGreaterThanOrEqual(0);
          expect(exit).toBeGreaterThan(exec);
        } finally {
          await idle.close();
        }
      });

      it('is not kept alive by requests without the token', async () => {
        const probed = await startAgent({ idleSeconds: 0.3 });
        try {
          // Were a refused request to count as activity, this would probe forever (and time the test out).
          while (probed.exits.length === 0) {
            expect((await probed.call('/v1/health', undefined, { token: null })).status).toBe(401);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          expect(probed.logs).toContainEqual({ event: 'exit', reason: 'idle' });
        } finally {
          await probed.close();
        }
      });

      it('exits at its lifetime limit', async () => {
        const short = await startAgent({ maxSeconds: 0.2 });
        try {
          await until(() => short.exits.length > 0);
          expect(short.exits).toEqual([0]);
          expect(short.logs).toContainEqual({ event: 'exit', reason: 'max_lifetime' });
        } finally {
          await short.close();
        }
      });
    });
  },
);

describe("the container's entry point", () => {
  it('refuses to start without a valid token digest, naming the setting and never a value', () => {
    const fake = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
    let output = '';
    let status: number | null = 0;
    try {
      execFileSync(process.execPath, [join(process.cwd(), 'containers/sandbox-agent/main.ts')], {
        env: { PATH: '/usr/bin:/bin', LOOPRAIL_SANDBOX_TOKEN_SHA256: fake, LOOPRAIL_SANDBOX_IDLE_SECONDS: 'soon' },
        encoding: 'utf8',
        timeout: 30_000,
      });
    } catch (error) {
      status = (error as { status: number | null }).status;
      output = (error as { stdout: string }).stdout;
    }
    expect(status).toBe(1);
    const line = JSON.parse(output.trim()) as { event: string; problems: string[] };
    expect(line.event).toBe('start_failed');
    expect(line.problems).toEqual([
      "LOOPRAIL_SANDBOX_TOKEN_SHA256: expected the agent token's SHA-256 (64 hex digits)",
      expect.stringMatching(/^LOOPRAIL_SANDBOX_IDLE_SECONDS: /),
    ]);
    expect(output).not.toContain(fake);
  });
});

/** Waits for a condition (no timing asserted: the test's own timeout bounds it). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}
