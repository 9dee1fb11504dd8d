import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import { McpServerDeclaration as McpServerSchema } from '../../core/definitions/org.ts';
import { ToolUnavailableError } from '../../core/errors.ts';
import type { ExecutionStarter } from '../../core/ports/executions.ts';
import { githubSignature, looprailSignature } from '../../core/policy/webhook-signature.ts';
import { createApi } from '../../functions/http/api/index.ts';
import type { HttpRequest, HttpResponse } from '../../functions/http/types.ts';
import { testHost } from '../support/local-host.ts';
import { parse as parseYaml } from 'yaml';
import { readFile } from 'node:fs/promises';

/**
 * Bad input, table-driven: malformed agent definitions (through the loader `looprail
 * validate` and the hosts use), webhook deliveries and REST API requests (through the one
 * HTTP app's router, as the hosts serve it), and tool results outside the MCP protocol
 * (through the MCP gateway, from a real stdio server). Each case gets its own specific
 * error, and the whole DynamoDB table is the same before and after it: every item, compared
 * by a full Scan (nothing excluded; none of these paths writes rate-limit or audit items).
 *
 * Approval POSTs are left out here: their flow is being built in its own change.
 */

const ORG = 'test/fixtures/faults-org';
const GITHUB_SECRET = 'faults-webhook-secret-value-0123456789';
const SIGNAL_SECRET = 'faults-signal-secret-value-0123456789';

let host: Awaited<ReturnType<typeof testHost>>;
let app: (request: HttpRequest) => Promise<HttpResponse>;
/** Run ids whose execution was started (a start is idempotent by run id, as Step Functions' execution names are). */
const started = new Set<string>();

/** Records starts without running anything: the table then holds only what the requests wrote. */
const idleStarter: ExecutionStarter = {
  async start(runId) {
    started.add(runId);
  },
  async stop() {},
};

beforeAll(async () => {
  process.env.LOOPRAIL_SECRET_FAULTS_WEBHOOK_SECRET = GITHUB_SECRET;
  process.env.LOOPRAIL_SECRET_FAULTS_SIGNAL_SECRET = SIGNAL_SECRET;
  host = await testHost(ORG);
  app = createApi({ ...host.deps, executions: idleStarter, secrets: host.secrets }).handle;
});

afterAll(async () => {
  await host?.close();
  delete process.env.LOOPRAIL_SECRET_FAULTS_WEBHOOK_SECRET;
  delete process.env.LOOPRAIL_SECRET_FAULTS_SIGNAL_SECRET;
});

/** Every item of the table, in key order. */
async function snapshot(): Promise<string> {
  const items: Array<Record<string, AttributeValue>> = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await host.dynamodb.send(
      new ScanCommand({ TableName: host.tableName, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  const key = (item: Record<string, AttributeValue>) => `${item.pk?.S}\u0000${item.sk?.S}`;
  return JSON.stringify(items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)));
}

/** Runs a case and checks the table did not change under it. */
async function unchanged<T>(fn: () => Promise<T>): Promise<T> {
  const before = await snapshot();
  const startsBefore = [...started];
  const result = await fn();
  expect(await snapshot()).toBe(before);
  expect([...started]).toEqual(startsBefore);
  return result;
}

const bodyOf = (response: HttpResponse) => JSON.parse(String(response.body)) as Record<string, any>;

// --- definitions --------------------------------------------------------------------------

interface DefinitionCase {
  name: string;
  file: string;
  text: string;
  /** Each expected problem: line, field path and what the message says. */
  problems: Array<{ line: number; path: string; message: RegExp }>;
}

const AGENT_HEAD = 'agent:\n  name: bad\n  owner: tests@example.com\n';
const DEFINITIONS: DefinitionCase[] = [
  {
    name: 'not YAML at all',
    file: 'bad.yaml',
    text: 'agent:\n  name: bad\n  owner: [unclosed\n',
    problems: [{ line: 4, path: '', message: /^not valid YAML: / }],
  },
  {
    name: 'a negative step limit',
    file: 'bad.yaml',
    text: `${AGENT_HEAD}  model: s-boundary\n  instructions: ./instructions.md@v1\n  harness:\n    max_steps: -3\n`,
    problems: [{ line: 7, path: 'agent.harness.max_steps', message: /expected a number greater than 0/ }],
  },
  {
    name: 'an unknown model and an undeclared server, both reported at once',
    file: 'bad.yaml',
    text: `${AGENT_HEAD}  model: no-such-model\n  instructions: ./instructions.md@v1\n  mcp_servers: [nowhere]\n`,
    problems: [
      { line: 4, path: 'agent.model', message: /unknown model "no-such-model"/ },
      { line: 6, path: 'agent.mcp_servers[0]', message: /unknown MCP server "nowhere"/ },
    ],
  },
  {
    name: 'an unknown key and a bad duration',
    file: 'bad.yaml',
    text: `${AGENT_HEAD}  model: s-boundary\n  instructions: ./instructions.md@v1\n  approvals:\n    counter.record: { timeout: soon }\n  surprise: true\n`,
    problems: [
      { line: 7, path: 'agent.approvals.counter.record.timeout', message: /expected a duration such as 30s/ },
      { line: 8, path: 'agent.surprise', message: /unknown key "surprise"/ },
    ],
  },
  {
    name: 'a server declaration with an unknown transport',
    file: 'mcp-servers/odd.yaml',
    text: 'name: odd\ntransport: { type: carrier-pigeon }\ntools: {}\n',
    problems: [{ line: 2, path: 'transport.type', message: /expected transport\.type: stdio or http/ }],
  },
  {
    name: 'a budget with a negative limit',
    file: 'budgets.yaml',
    text: 'budgets:\n  - name: broke\n    team: faults\n    period: day\n    limit_usd: -1\n',
    problems: [{ line: 5, path: 'budgets[0].limit_usd', message: /./ }],
  },
];

describe('malformed definitions', () => {
  for (const testCase of DEFINITIONS) {
    it(`${testCase.name}: each problem names the file, line and field, and nothing runs or changes`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'looprail-bad-org-'));
      try {
        await cp(ORG, dir, { recursive: true });
        await writeFile(join(dir, testCase.file), testCase.text);
        const { problems, catalog } = await loadOrgFolder(dir, dir);
        expect(catalog).toBeUndefined();
        const errors = problems.filter((p) => p.severity === 'error');
        expect(errors.map((p) => ({ file: p.file, line: p.line, path: p.path }))).toEqual(
          testCase.problems.map((p) => ({ file: testCase.file, line: p.line, path: p.path })),
        );
        for (const [index, problem] of errors.entries())
          expect(problem.message).toMatch(testCase.problems[index]!.message);
        // A host refuses to start on it (before it touches the table), naming the file and line.
        await unchanged(async () => {
          const refused = testHost(dir, { tableName: host.tableName });
          await expect(refused).rejects.toThrow(
            new RegExp(`${testCase.file.replace('.', '\\.')}:${testCase.problems[0]!.line}:`),
          );
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

// --- webhooks -----------------------------------------------------------------------------

function push(
  payload: unknown,
  options: {
    raw?: string;
    headers?: Record<string, string>;
    sign?: (body: Buffer) => string | undefined;
    agent?: string;
  } = {},
): HttpRequest {
  const rawBody = Buffer.from(options.raw ?? JSON.stringify(payload));
  const signature = options.sign ? options.sign(rawBody) : githubSignature(GITHUB_SECRET, rawBody);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': `d-${Math.random().toString(36).slice(2)}`,
  };
  if (signature !== undefined) headers['x-hub-signature-256'] = signature;
  return {
    method: 'POST',
    path: `/webhooks/${options.agent ?? 'hooked'}`,
    query: {},
    headers: { ...headers, ...options.headers },
    rawBody,
  };
}

const toMain = { ref: 'refs/heads/main', repository: { full_name: 'acme/shop' } };

interface WebhookCase {
  name: string;
  request: () => HttpRequest;
  status: number;
  reason: RegExp;
}

const WEBHOOKS: WebhookCase[] = [
  {
    name: 'an agent without a webhook',
    request: () => push(toMain, { agent: 'boundary' }),
    status: 404,
    reason: /no webhook for agent "boundary"/,
  },
  {
    name: 'no signature',
    request: () => push(toMain, { sign: () => undefined }),
    status: 401,
    reason: /X-Hub-Signature-256/i,
  },
  {
    name: 'a signature with the wrong key',
    request: () => push(toMain, { sign: (body) => githubSignature('not-the-key', body) }),
    status: 401,
    reason: /signature/i,
  },
  {
    name: 'a body changed after signing',
    request: () => ({ ...push(toMain), rawBody: Buffer.from(JSON.stringify({ ...toMain, ref: 'refs/heads/evil' })) }),
    status: 401,
    reason: /signature/i,
  },
  {
    name: 'no delivery id',
    request: () => {
      const request = push(toMain);
      delete request.headers['x-github-delivery'];
      return request;
    },
    status: 400,
    reason: /X-GitHub-Delivery header is missing/,
  },
  {
    name: 'a delivery id that is not printable ASCII',
    request: () => push(toMain, { headers: { 'x-github-delivery': 'd\u00e9livery' } }),
    status: 400,
    reason: /printable ASCII/,
  },
  {
    name: 'a body that is not JSON',
    request: () => push(undefined, { raw: '{"ref": "refs/heads/main",' }),
    status: 400,
    reason: /JSON/,
  },
  {
    name: 'a form delivery without its payload field',
    request: () =>
      push(undefined, { raw: 'nothing=here', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    status: 400,
    reason: /"payload" field/,
  },
  {
    name: 'a payload over the run input limit',
    request: () => push({ ...toMain, padding: 'x'.repeat(40_000) }),
    status: 413,
    reason: /run input/,
  },
  {
    name: 'a payload nested deeper than a run input may (checked on the text, before parsing)',
    request: () =>
      push(undefined, { raw: `{"ref":"refs/heads/main","deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}` }),
    status: 400,
    reason: /^payload, at payload\.deep(\[0\])+.*nests deeper than 32 levels \(maxDepth 32\)$/,
  },
  {
    name: 'a form-encoded payload nested deeper than a run input may',
    request: () =>
      push(undefined, {
        raw: new URLSearchParams({
          payload: `{"ref":"refs/heads/main","deep":${'['.repeat(40)}${']'.repeat(40)}}`,
        }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    status: 400,
    reason: /nests deeper than 32 levels \(maxDepth 32\)/,
  },
  {
    name: 'a payload with an object of more keys than a run input may have',
    request: () => push({ ...toMain, wide: Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`k${i}`, 0])) }),
    status: 400,
    reason:
      /^as a run's input, the payload, at payload\.wide has an object with more than 1000 keys \(maxObjectKeys 1000\)$/,
  },
  {
    name: 'a body over the webhook limit',
    request: () => push({ ...toMain, padding: 'x'.repeat(1_100_000) }),
    status: 413,
    reason: /webhooks take at most/,
  },
  {
    name: 'a generic delivery signed too long ago',
    request: () => {
      const rawBody = Buffer.from(JSON.stringify({ event: 'deploy' }));
      const old = Math.floor(Date.now() / 1000) - 3600;
      return {
        method: 'POST',
        path: '/webhooks/signalled',
        query: {},
        headers: {
          'content-type': 'application/json',
          'x-looprail-event': 'deploy',
          'x-looprail-delivery': 'd-stale',
          'x-looprail-timestamp': String(old),
          'x-looprail-signature': looprailSignature(SIGNAL_SECRET, old, rawBody),
        },
        rawBody,
      };
    },
    status: 401,
    reason: /timestamp|replay|old/i,
  },
];

describe('bad webhook deliveries', () => {
  for (const testCase of WEBHOOKS) {
    it(`${testCase.name}: ${testCase.status} with its reason, nothing stored or started`, async () => {
      const response = await unchanged(() => app(testCase.request()));
      expect(response.status).toBe(testCase.status);
      expect(bodyOf(response).reason).toMatch(testCase.reason);
    });
  }

  it('a delivery id reused for a different payload: 409, and the first run is untouched', async () => {
    const first = push(toMain, { headers: { 'x-github-delivery': 'd-reused' } });
    const accepted = await app(first);
    expect(accepted.status).toBe(202);
    const response = await unchanged(() =>
      app(push({ ...toMain, after: 'other' }, { headers: { 'x-github-delivery': 'd-reused' } })),
    );
    expect(response.status).toBe(409);
    expect(bodyOf(response).reason).toMatch(/delivery d-reused was already received with a different payload/);
  });
});

// --- REST API -----------------------------------------------------------------------------

function api(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; query?: Record<string, string>; headers?: Record<string, string> } = {},
): HttpRequest {
  const raw = options.raw ?? (options.body === undefined ? '' : JSON.stringify(options.body));
  return {
    method,
    path,
    query: options.query ?? {},
    headers: { 'content-type': 'application/json', ...options.headers },
    rawBody: Buffer.from(raw),
    principal: 'tester',
  };
}

interface ApiCase {
  name: string;
  request: () => HttpRequest;
  status: number;
  code: string;
  field?: string;
  message: RegExp;
}

const API: ApiCase[] = [
  {
    name: 'a start whose body is not JSON',
    request: () => api('POST', '/v1/runs', { raw: '{"agent": ' }),
    status: 400,
    code: 'invalid_json',
    message: /JSON/,
  },
  {
    name: 'a start without an agent',
    request: () => api('POST', '/v1/runs', { body: { input: {} } }),
    status: 400,
    code: 'invalid_request',
    field: 'agent',
    message: /./,
  },
  {
    name: 'a start with an unknown field',
    request: () => api('POST', '/v1/runs', { body: { agent: 'typed', input: { repo: 'a' }, colour: 'red' } }),
    status: 400,
    code: 'invalid_request',
    message: /colour/,
  },
  {
    name: 'a start of an unknown agent',
    request: () => api('POST', '/v1/runs', { body: { agent: 'nobody', input: {} } }),
    status: 404,
    code: 'not_found',
    message: /unknown agent "nobody"/,
  },
  {
    name: 'a start of a paused agent',
    request: () => api('POST', '/v1/runs', { body: { agent: 'dormant', input: {} } }),
    status: 409,
    code: expect.any(String) as unknown as string,
    message: /agent "dormant" is paused/,
  },
  {
    name: 'an input that does not match the input_schema',
    request: () => api('POST', '/v1/runs', { body: { agent: 'typed', input: { repo: 42 } } }),
    status: 400,
    code: expect.any(String) as unknown as string,
    message: /input_schema.*repo/,
  },
  {
    name: 'an input over the size limit',
    request: () => api('POST', '/v1/runs', { body: { agent: 'boundary', input: { text: 'x'.repeat(40_000) } } }),
    status: 400,
    code: expect.any(String) as unknown as string,
    message: /^input, at input\.text has a string longer than 32768 characters \(maxStringChars 32768\)$/,
  },
  {
    name: 'an input over the size limit in many small strings',
    request: () =>
      api('POST', '/v1/runs', {
        body: { agent: 'boundary', input: { items: Array.from({ length: 5_000 }, () => 'abcdef') } },
      }),
    status: 400,
    code: 'invalid_input',
    message: /^input is more than 32768 bytes as JSON \(maxBytes 32768\)$/,
  },
  {
    name: 'an input nested deeper than 32 levels',
    request: () =>
      api('POST', '/v1/runs', {
        body: { agent: 'boundary', input: { a: JSON.parse(`${'['.repeat(32)}${']'.repeat(32)}`) } },
      }),
    status: 400,
    code: 'invalid_input',
    message: /^input, at input\.a(\[0\]){31} nests deeper than 32 levels \(maxDepth 32\)$/,
  },
  {
    name: 'a body nested 100,000 levels deep (checked on the text, before parsing)',
    request: () =>
      api('POST', '/v1/runs', {
        raw: `{"agent":"boundary","input":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
      }),
    status: 400,
    code: 'invalid_request',
    message: /^body, at body\.input\.a(\[0\])+.*nests deeper than 64 levels \(maxDepth 64\)$/,
  },
  {
    name: 'an Idempotency-Key header too long',
    request: () =>
      api('POST', '/v1/runs', {
        body: { agent: 'boundary', input: {} },
        headers: { 'idempotency-key': 'k'.repeat(300) },
      }),
    status: 400,
    code: 'invalid_request',
    field: 'Idempotency-Key',
    message: /1 to 255 characters/,
  },
  {
    name: 'an Idempotency-Key header that contradicts the body',
    request: () =>
      api('POST', '/v1/runs', {
        body: { agent: 'boundary', input: {}, idempotencyKey: 'one' },
        headers: { 'idempotency-key': 'two' },
      }),
    status: 400,
    code: expect.any(String) as unknown as string,
    message: /dempotency/,
  },
  {
    name: 'a listing with limit 0',
    request: () => api('GET', '/v1/runs', { query: { limit: '0' } }),
    status: 400,
    code: 'invalid_request',
    field: 'limit',
    message: /./,
  },
  {
    name: 'a listing by an unknown status',
    request: () => api('GET', '/v1/runs', { query: { status: 'sleeping' } }),
    status: 400,
    code: 'invalid_request',
    field: 'status',
    message: /./,
  },
  {
    name: 'a trace page after a negative seq',
    request: () => api('GET', '/v1/runs/r-none/trace', { query: { after: '-1' } }),
    status: 400,
    code: 'invalid_request',
    field: 'after',
    message: /./,
  },
  {
    name: 'costs over 0 days',
    request: () => api('GET', '/v1/costs', { query: { days: '0' } }),
    status: 400,
    code: 'invalid_request',
    field: 'days',
    message: /./,
  },
  {
    name: 'a run that does not exist',
    request: () => api('GET', '/v1/runs/r-nothing-here'),
    status: 404,
    code: 'not_found',
    message: /run r-nothing-here does not exist/,
  },
  {
    name: 'cancelling a run that does not exist',
    request: () => api('POST', '/v1/runs/r-nothing-here/cancel'),
    status: 404,
    code: 'not_found',
    message: /run r-nothing-here does not exist/,
  },
  {
    name: 'a path the API does not have',
    request: () => api('GET', '/v1/nowhere'),
    status: 404,
    code: expect.any(String) as unknown as string,
    message: /./,
  },
];

describe('bad API requests', () => {
  for (const testCase of API) {
    it(`${testCase.name}: ${testCase.status} naming what is wrong, nothing stored or started`, async () => {
      const response = await unchanged(() => app(testCase.request()));
      expect(response.status).toBe(testCase.status);
      const { error } = bodyOf(response) as { error: { code: string; message: string; field?: string } };
      expect(error.code).toEqual(testCase.code);
      expect(error.message).toMatch(testCase.message);
      if (testCase.field !== undefined) expect(error.field).toBe(testCase.field);
    });
  }
});

// --- tool results -------------------------------------------------------------------------

describe('tool results outside the protocol', () => {
  let gateway: McpToolGateway;
  let server: McpServerDeclaration;
  beforeAll(async () => {
    server = McpServerSchema.parse(parseYaml(await readFile(join(ORG, 'mcp-servers/counter.yaml'), 'utf8')));
    gateway = new McpToolGateway({
      secrets: new LocalSecretStore({ env: {} }),
      projectRoot: process.cwd(),
      stateDir: host.stateDir,
    });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const TOOLS: Array<{ name: string; tool: string; message: RegExp }> = [
    {
      name: 'a result whose content is not a list of blocks',
      tool: 'malformed',
      message: /MCP server "counter" answered malformed outside the protocol: .*content/,
    },
    {
      name: 'a line on stdout that is not JSON-RPC',
      tool: 'garbage',
      message: /MCP server "counter" is unavailable \(garbage\): sent a message that is not valid JSON-RPC/,
    },
  ];
  for (const testCase of TOOLS) {
    it(`${testCase.name}: a specific ToolUnavailableError, and the next call works`, async () => {
      await unchanged(async () => {
        const failure = await gateway.callTool(server, testCase.tool, { key: 'x' }).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure).toBeInstanceOf(ToolUnavailableError);
        expect((failure as Error).message).toMatch(testCase.message);
        expect(await gateway.callTool(server, 'peek', { key: 'after' })).toEqual({
          content: 'read after',
          isError: false,
        });
      });
    });
  }
});
