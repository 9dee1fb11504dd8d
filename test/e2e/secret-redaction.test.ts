import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { LooprailClient } from '../../cli/client.ts';
import { startHttpServer } from '../../cli/http-server.ts';
import { renderTrace } from '../../cli/output/trace-tree.ts';
import { createApi } from '../../functions/http/api/index.ts';
import { type FakeModelServer, type FakeReply, openai } from '../support/fake-model-servers.ts';
import { testHost } from '../support/local-host.ts';
import { SECRET_ENCODINGS, occurrences, secretArbitrary } from '../support/secret-encodings.ts';

/**
 * Through real runs on the local host: a real stdio MCP server started with a secret the
 * runtime resolved echoes it in one encoding after another (test/fixtures/redaction-org),
 * then a provider speaking OpenAI's wire format refuses its key with a 401 that quotes the
 * key JSON-escaped (`\/`, `\u00XX` in both cases). For random secrets, in every encoding,
 * no sink holds either in any encoding: the table, the state folder (events, outbox),
 * the log lines, the API's, the console's and the CLI's answers, and what the provider received.
 */

let provider: FakeModelServer;
let org: string;

beforeAll(async () => {
  provider = await openai.start();
  org = await mkdtemp(join(tmpdir(), 'looprail-redaction-org-'));
  await cp('test/fixtures/redaction-org', org, { recursive: true });
  await writeFile(
    join(org, 'models.yaml'),
    `models:\n  gpt-local:\n    provider: openai\n    model_id: gpt-4.1\n    base_url: ${provider.url}/v1\n    secret: openai-key\n    price: { input_per_mtok: 2, output_per_mtok: 8 }\n`,
  );
});

afterAll(async () => {
  await provider?.close();
  await rm(org, { recursive: true, force: true });
});

/** A key as a header can carry it: printable ASCII, quotes, backslashes, slashes and `%` included. */
const keyArbitrary = fc
  .array(
    fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
    { minLength: 12, maxLength: 40 },
  )
  .map((chars) => chars.join(''))
  .filter((key) => !key.includes('[redacted]'));

/** A process environment holds no NUL, so neither can a token handed to a server in one. */
const tokenArbitrary = secretArbitrary.filter((token) => !token.includes('\u0000'));

/** The key as a provider's JSON may quote it: `\/`, and every other character a `\u` escape, in either case. */
function quotedKey(key: string): string {
  return [...key]
    .map((char, i) => {
      if (i % 2 === 1) return char === '/' ? '\\/' : JSON.stringify(char).slice(1, -1);
      const hex = char.charCodeAt(0).toString(16).padStart(4, '0');
      return `\\u${i % 4 === 0 ? hex.toUpperCase() : hex}`;
    })
    .join('');
}

function refusal(key: string): FakeReply {
  const message = `Incorrect API key provided: ${quotedKey(key)}. You can find your API key at https:\\/\\/platform.openai.com\\/account\\/api-keys.`;
  return {
    kind: 'raw',
    status: 401,
    body: `{"error":{"message":"${message}","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
  };
}

async function filesUnder(dir: string): Promise<Array<{ path: string; text: string }>> {
  const files: Array<{ path: string; text: string }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name === 'secrets.json') continue;
    const path = join(entry.parentPath, entry.name);
    files.push({ path, text: await readFile(path, 'utf8') });
  }
  return files;
}

/** One real run: the server leaks `token` in `encoding`, the provider quotes `key`; then every sink, by name. */
async function runAndCollectSinks(encoding: string, token: string, key: string): Promise<Record<string, string>> {
  const logLines: string[] = [];
  const host = await testHost(org, { log: jsonLogger('info', (line) => logLines.push(line)) });
  const apiToken = randomBytes(24).toString('base64url');
  const http = await startHttpServer({
    app: createApi({ ...host.deps, executions: host.executions, secrets: host.secrets }).handle,
    token: apiToken,
    user: 'tester',
  });
  try {
    await writeFile(join(host.stateDir, 'secrets.json'), JSON.stringify({ 'leaky-token': token, 'openai-key': key }));
    provider.reset();
    provider.reply(
      openai.completion({
        toolCalls: [{ id: 'call_leak', name: 'leaky__leak', arguments: JSON.stringify({ encoding }) }],
        usage: { prompt_tokens: 100, completion_tokens: 10 },
      }),
      refusal(key),
    );
    const { runId, meta } = await host.run({ agent: 'leaky', input: {} });
    // The run went the whole way: the tool answered (redacted) and the provider refused the key, which is named.
    expect(meta).toMatchObject({ status: 'failed', stopReason: 'error' });
    expect(meta.stopDetail).toContain('openai-key');
    const toolMessage = provider.requests[1]?.body?.messages?.find((m: { role: string }) => m.role === 'tool');
    expect(toolMessage?.content).toContain('[redacted]');

    const get = async (path: string) =>
      (await fetch(new URL(path, http.url), { headers: { authorization: `Bearer ${apiToken}` } })).text();
    // What `looprail trace` and `looprail runs` print, as they print it: through the API's client.
    const client = new LooprailClient({ url: http.url, token: apiToken });
    const [run, trace, runs] = await Promise.all([client.getRun(runId), client.getTrace(runId), client.listRuns()]);
    const children = Object.fromEntries(trace.checkers.map((checker) => [checker.runId, checker.events]));
    const table = await host.dynamodb.send(new ScanCommand({ TableName: host.tableName }));
    const sinks: Record<string, string> = {
      table: JSON.stringify(table.Items),
      logs: logLines.join('\n'),
      'provider requests (bodies)': provider.requests.map((request) => request.raw).join('\n'),
      'API run': await get(`/v1/runs/${runId}`),
      'API trace': await get(`/v1/runs/${runId}/trace`),
      'API runs': await get('/v1/runs'),
      'console run page': await get(`/console/runs/${runId}`),
      'CLI trace': renderTrace(run, trace.events, children),
      'CLI trace --json': JSON.stringify({ run, trace: trace.events, children }, null, 2),
      'CLI runs --json': JSON.stringify(runs, null, 2),
    };
    for (const file of await filesUnder(host.stateDir)) sinks[file.path.slice(host.stateDir.length + 1)] = file.text;
    expect(Object.keys(sinks).some((name) => name.startsWith('outbox/'))).toBe(true);
    expect(Object.keys(sinks)).toContain('events.jsonl');
    return sinks;
  } finally {
    await http.close();
    await host.close();
  }
}

describe('a secret the runtime read reaches no sink, in any encoding', () => {
  it.each(SECRET_ENCODINGS.map((encoding, index) => [encoding.name, index] as const))(
    'a server echoing its token %s, a provider quoting its key JSON-escaped',
    async (encoding, index) => {
      await fc.assert(
        fc.asyncProperty(tokenArbitrary, keyArbitrary, async (token, key) => {
          const sinks = await runAndCollectSinks(encoding, token, key);
          const leaks = Object.entries(sinks).flatMap(([sink, text]) => [
            ...occurrences(text, token).map((form) => `${sink}: the token, ${form}`),
            ...occurrences(text, key).map((form) => `${sink}: the key, ${form}`),
          ]);
          expect(leaks).toEqual([]);
        }),
        { numRuns: 1, seed: 18 + index, endOnFailure: true },
      );
    },
    30_000,
  );
});
