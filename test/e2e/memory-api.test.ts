import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LocalHttpServer } from '../../cli/http-server.ts';
import { localMemory, memoryCommand } from '../../cli/commands/memory.ts';
import { agentMemory } from '../../core/memory/operator.ts';
import { createApi } from '../../functions/http/api/index.ts';
import type { AgentMemoryView, MemoryActionResponse } from '../../functions/http/api/memory.ts';
import { looprailCli } from '../support/looprail-cli.ts';
import { testHost } from '../support/local-host.ts';

/**
 * Loop memory through the HTTP API (`/v1/agents/{agent}/memory`) and `looprail memory
 * --url`: two runs of the morning loop (test/fixtures/memory-org) leave ci-1 done and ci-2
 * needs_human; an operator reads that and acts on it, recorded with the caller's principal.
 */

let host: Awaited<ReturnType<typeof testHost>>;
let server: LocalHttpServer;
const token = randomBytes(24).toString('base64url');
let firstRunId: string;
let secondRunId: string;

beforeAll(async () => {
  host = await testHost('test/fixtures/memory-org');
  const api = createApi({ ...host.deps, executions: host.executions, secrets: host.secrets });
  server = await startHttpServer({ app: api.handle, token, user: 'tester' });
  firstRunId = (await host.run({ agent: 'morning', input: {} })).runId;
  secondRunId = (await host.run({ agent: 'morning', input: {} })).runId;
}, 120_000);

afterAll(async () => {
  await server?.close();
  await host?.close();
});

async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
  const response = await fetch(new URL(path, server.url), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

const brief = (view: AgentMemoryView) =>
  view.items.map(({ id, state, attempts, runId }) => ({ id, state, attempts, runId }));

describe('loop memory through the API', () => {
  it('reads the ledger as of now by state, the notes with their runs, and the settings', async () => {
    const { status, json } = await call('GET', '/v1/agents/morning/memory');
    expect(status).toBe(200);
    const view = json as AgentMemoryView;
    expect(brief(view)).toEqual([
      { id: 'ci-2', state: 'needs_human', attempts: 2, runId: secondRunId },
      { id: 'ci-1', state: 'done', attempts: 1, runId: firstRunId },
    ]);
    expect(view.total).toBe(2);
    expect(view.policy).toMatchObject({ maxAttempts: 2, leaseSeconds: 1800 });
    expect(view.notes.map(({ version, runId }) => ({ version, runId }))).toEqual([
      { version: 2, runId: secondRunId },
      { version: 1, runId: firstRunId },
    ]);
    expect(view.operatorActions).toEqual([]);

    // One state, a capped page: `total` says what the cap left out.
    const done = (await call('GET', '/v1/agents/morning/memory?state=done&notes=1')).json as AgentMemoryView;
    expect({ items: brief(done).map((item) => item.id), total: done.total, notes: done.notes.length }).toEqual({
      items: ['ci-1'],
      total: 1,
      notes: 1,
    });
    const capped = (await call('GET', '/v1/agents/morning/memory?limit=1')).json as AgentMemoryView;
    expect({ items: brief(capped).map((item) => item.id), total: capped.total }).toEqual({ items: ['ci-2'], total: 2 });
  });

  it('is in /openapi.json with its query, its three bodies and its problems', async () => {
    const document = (await (await fetch(new URL('/openapi.json', server.url))).json()) as {
      paths: Record<string, Record<string, any>>;
    };
    const path = document.paths['/v1/agents/{agent}/memory']!;
    expect(path.get.operationId).toBe('getAgentMemory');
    expect(path.get.parameters.map((p: { name: string }) => p.name)).toEqual([
      'agent',
      'state',
      'limit',
      'notes',
      'actions',
    ]);
    expect(path.post.operationId).toBe('actOnAgentMemory');
    const body = path.post.requestBody.content['application/json'].schema;
    expect(body.oneOf.map((each: any) => each.properties.action.const)).toEqual(['reopen', 'done', 'clear']);
    expect(Object.keys(path.post.responses).sort()).toEqual(['200', '400', '401', '404', '409', '500']);
  });

  it('refuses what it cannot serve, each with a status, a code and the field at fault', async () => {
    const cases: Array<[string, 'GET' | 'POST', string, unknown, number, string, string, RegExp]> = [
      [
        'unknown agent',
        'GET',
        '/v1/agents/nobody/memory',
        undefined,
        404,
        'not_found',
        'agent',
        /unknown agent "nobody"/,
      ],
      [
        'inherited name',
        'GET',
        '/v1/agents/constructor/memory',
        undefined,
        404,
        'not_found',
        'agent',
        /unknown agent "constructor"/,
      ],
      [
        'no memory:',
        'GET',
        '/v1/agents/forgetful/memory',
        undefined,
        409,
        'no_memory',
        'agent',
        /agent "forgetful" declares no memory: add `memory:`/,
      ],
      ['bad state', 'GET', '/v1/agents/morning/memory?state=lost', undefined, 400, 'invalid_request', 'state', /state/],
      ['limit 0', 'GET', '/v1/agents/morning/memory?limit=0', undefined, 400, 'invalid_request', 'limit', /limit/],
      ['unknown query', 'GET', '/v1/agents/morning/memory?page=2', undefined, 400, 'invalid_request', 'query', /page/],
      [
        'unknown agent (POST)',
        'POST',
        '/v1/agents/nobody/memory',
        { action: 'clear' },
        404,
        'not_found',
        'agent',
        /unknown agent/,
      ],
      [
        'no memory: (POST)',
        'POST',
        '/v1/agents/forgetful/memory',
        { action: 'done', id: 'x' },
        409,
        'no_memory',
        'agent',
        /declares no memory/,
      ],
      [
        'unknown item',
        'POST',
        '/v1/agents/morning/memory',
        { action: 'reopen', id: 'ci-404' },
        404,
        'unknown_item',
        'id',
        /the ledger has no item "ci-404"/,
      ],
      [
        'no action',
        'POST',
        '/v1/agents/morning/memory',
        { id: 'ci-2' },
        400,
        'invalid_request',
        'action',
        /'reopen' \| 'done' \| 'clear'/,
      ],
      [
        'bad action',
        'POST',
        '/v1/agents/morning/memory',
        { action: 'delete', id: 'ci-2' },
        400,
        'invalid_request',
        'action',
        /body\.action/,
      ],
      [
        'reopen without id',
        'POST',
        '/v1/agents/morning/memory',
        { action: 'reopen' },
        400,
        'invalid_request',
        'id',
        /body\.id/,
      ],
      [
        'empty id',
        'POST',
        '/v1/agents/morning/memory',
        { action: 'done', id: '' },
        400,
        'invalid_request',
        'id',
        /body\.id/,
      ],
      [
        'clear with an id',
        'POST',
        '/v1/agents/morning/memory',
        { action: 'clear', id: 'ci-1' },
        400,
        'invalid_request',
        'id',
        /clear acts on the whole ledger: send no id/,
      ],
      [
        'extra field',
        'POST',
        '/v1/agents/morning/memory',
        { action: 'done', id: 'ci-1', by: 'someone-else' },
        400,
        'invalid_request',
        'body',
        /"by"/,
      ],
    ];
    for (const [name, method, path, body, status, code, field, message] of cases) {
      const answer = await call(method, path, body);
      expect([name, answer.status, answer.json.error?.code, answer.json.error?.field]).toEqual([
        name,
        status,
        code,
        field,
      ]);
      expect(answer.json.error.message).toMatch(message);
    }
    // A host composed without the memory store says so, rather than failing as a 500.
    const bare = createApi({ ...host.deps, memory: undefined, executions: host.executions });
    const request = {
      method: 'GET',
      path: '/v1/agents/morning/memory',
      query: {},
      headers: {},
      rawBody: Buffer.alloc(0),
    };
    const unavailable = await bare.handle({ ...request, principal: 'local:tester' });
    expect([unavailable.status, JSON.parse(String(unavailable.body)).error.code]).toEqual([503, 'memory_unavailable']);
    const unsigned = await fetch(new URL('/v1/agents/morning/memory', server.url), { method: 'POST' });
    expect(unsigned.status).toBe(401);
    // Nothing was written by any refusal.
    const after = (await call('GET', '/v1/agents/morning/memory')).json as AgentMemoryView;
    expect(after.operatorActions).toEqual([]);
    expect(after.items.map((item) => item.state)).toEqual(['needs_human', 'done']);
  });

  it('reopens a needs_human item and marks one done, each recorded with the caller and the time', async () => {
    const reopened = await call('POST', '/v1/agents/morning/memory', { action: 'reopen', id: 'ci-2' });
    expect(reopened.status).toBe(200);
    const answer = reopened.json as MemoryActionResponse;
    expect(answer).toMatchObject({
      agent: 'morning',
      action: 'reopen',
      message: '"ci-2" is open (reopen by local:tester)',
      item: { id: 'ci-2', state: 'open', attempts: 0, operator: { action: 'reopen', by: 'local:tester' } },
    });
    expect(Date.now() - Date.parse(answer.item!.operator!.at)).toBeLessThan(60_000);

    // The next run claims the reopened item again: its attempts count from zero.
    const third = await host.run({ agent: 'morning', input: {} });
    const view = (await call('GET', '/v1/agents/morning/memory')).json as AgentMemoryView;
    expect(brief(view).find((item) => item.id === 'ci-2')).toEqual({
      id: 'ci-2',
      state: 'failed',
      attempts: 1,
      runId: third.runId,
    });

    const done = await call('POST', '/v1/agents/morning/memory', { action: 'done', id: 'ci-2' });
    expect(done.json).toMatchObject({ item: { state: 'done', outcome: 'marked done by local:tester' } });
    const actions = ((await call('GET', '/v1/agents/morning/memory')).json as AgentMemoryView).operatorActions;
    expect(actions.map(({ action, itemId, by }) => ({ action, itemId, by }))).toEqual([
      { action: 'done', itemId: 'ci-2', by: 'local:tester' },
      { action: 'reopen', itemId: 'ci-2', by: 'local:tester' },
    ]);
  });

  it('`looprail memory --url` reads and acts through the API with the same output as on the local state', async () => {
    const cli = (...args: string[]) =>
      looprailCli(['memory', 'morning', '--url', server.url, '--token', token, ...args], { timeoutMs: 60_000 });
    const shown = await cli();
    expect(shown.code).toBe(0);
    // Line for line what the command prints on the local state over the same store.
    const found = agentMemory(await host.deps.catalog(), 'morning');
    if (found.kind !== 'memory') throw new Error(found.message);
    const local: string[] = [];
    const door = localMemory(host.deps.memory!, 'morning', found.policy, { principal: 'x', now: () => new Date() });
    expect(await memoryCommand(door, { log: (line) => local.push(line) })).toBe(true);
    expect(shown.stdout).toBe(`${local.join('\n')}\n`);
    expect(shown.stdout).toContain('morning — work ledger (2 items)');
    expect(shown.stdout).toMatch(/done\s+ci-2\s+1\/2 · run r-.* · marked done by local:tester · done by local:tester/);
    expect(shown.stdout).toMatch(/done\s+ci-1\s+1\/2 · run r-.* · fixed the import in build.ts/);
    expect(shown.stdout).toContain(`v2 · run ${secondRunId}`);
    expect(shown.stdout).toMatch(/operator actions \(newest first\)\n.* · done ci-2 by local:tester · /);

    const missing = await cli('--reopen', 'ci-404');
    expect([missing.code, missing.stdout.trim()]).toEqual([1, '✗ the ledger has no item "ci-404" (404 unknown_item)']);
    const forgetful = await looprailCli(['memory', 'forgetful', '--url', server.url, '--token', token]);
    expect([forgetful.code, forgetful.stdout.trim()]).toEqual([
      1,
      '✗ agent "forgetful" declares no memory: add `memory:` to its definition (409 no_memory)',
    ]);

    // LOOPRAIL_URL and LOOPRAIL_TOKEN stand for --url and --token, as for the other commands.
    const env = { LOOPRAIL_URL: server.url, LOOPRAIL_TOKEN: token };
    const cleared = await looprailCli(['memory', 'morning', '--clear'], { env, timeoutMs: 60_000 });
    expect([cleared.code, cleared.stdout.trim()]).toEqual([
      0,
      "✓ cleared 2 items of morning's ledger (recorded as local:tester)",
    ]);
    const json = JSON.parse((await looprailCli(['memory', 'morning', '--json'], { env })).stdout) as AgentMemoryView;
    expect({ total: json.total, note: json.notes[0]!.source, by: json.operatorActions[0]!.by }).toEqual({
      total: 0,
      note: 'operator',
      by: 'local:tester',
    });
    expect(json.notes[0]!.text).toMatch(/^The ledger was cleared by local:tester at /);
  });
});
