import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { freePort, startEverythingHttp } from '../support/everything-http.ts';
import type { StackInABox } from './box.ts';
import { signedFetch } from './clients.ts';
import { deployOrg } from './deploy-org.ts';

/**
 * An agent whose MCP server is remote (Streamable HTTP), deployed into the box: the steps
 * connect to it themselves, with the MCP SDK's client from the chunk beside their
 * index.mjs, loaded on that first connection (infra/constructs/handler-function.ts,
 * `bundleHandler`). A cold start never loads that chunk; this run is what proves the
 * chunk loads and works from the asset as deployed.
 */

const ORG = {
  'remote.yaml': `agent:
  name: remote
  description: Echoes a message through a remote MCP server
  owner: noor@example.com
  team: platform
  model: s-remote
  instructions: ./instructions.md@v1
  mcp_servers: [echoes]
`,
  'instructions.md': 'Echo the message you are given.\n',
  'models.yaml': `models:
  s-remote: { provider: scripted, script: scripts/remote.yaml, price: { input_per_mtok: 3, output_per_mtok: 15 } }
`,
  'scripts/remote.yaml': `turns:
  - text: Echoing it.
    tool_calls:
      - { tool: echoes__echo, arguments: { message: over http from a deployed step } }
  - text: Echoed.
`,
};

let server: ChildProcess | undefined;
let box: StackInABox;
let store: DynamoRunStore;

beforeAll(async () => {
  const port = await freePort();
  server = await startEverythingHttp(port);
  const org = mkdtempSync(join(tmpdir(), 'looprail-http-org-'));
  const files: Record<string, string> = {
    ...ORG,
    'mcp-servers/echoes.yaml': `name: echoes
description: The reference everything server, remote
defer_loading: false
transport: { type: http, url: "http://127.0.0.1:${port}/mcp" }
tools:
  echo: { read_only: true }
`,
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(org, name, '..'), { recursive: true });
    writeFileSync(join(org, name), text);
  }
  ({ box, store } = await deployOrg(org));
}, 300_000);

afterAll(async () => {
  await box?.close();
  server?.kill('SIGKILL');
});

describe('an agent with a remote MCP server, deployed into the box', () => {
  it("ships the MCP client in a chunk the ModelStep's init does not import", () => {
    const dir = box.lambdas.list().find((fn) => fn.logicalId.includes('ModelStep'))!.assetDir;
    const index = readFileSync(join(dir, 'index.mjs'), 'utf8');
    const deferred = readdirSync(dir).filter((file) => file.endsWith('.mjs') && index.includes(`import("./${file}")`));
    expect(deferred).toHaveLength(1);
    expect(readFileSync(join(dir, deferred[0]!), 'utf8')).toContain('StreamableHTTPClientTransport');
    expect(index).not.toContain('StreamableHTTPClientTransport');
  });

  it('makes the call over http from the ModelStep, and the run finishes, with zero AccessDenied', async () => {
    const started = await signedFetch(box)(`${box.api.url}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'remote', input: { message: 'over http' } }),
    });
    expect(started.status).toBe(201);
    const { runId } = (await started.json()) as { runId: string };
    await box.stepFunctions.settled();

    expect(await store.getRun(runId)).toMatchObject({ status: 'finished' });
    const calls = (await store.listTrace(runId)).filter((event) => event.kind === 'tool_call');
    expect(calls.map((event) => [event.name, event.status])).toEqual([['echoes.echo', 'ok']]);
    const messages = (await store.loadState(runId))!.messages;
    expect(JSON.stringify(messages)).toContain('Echo: over http from a deployed step');
    // A read-only call: the ModelStep's function made it (core/run/tool-turn.ts), the ToolStep's never ran.
    const ran = (step: string) =>
      box.lambdas.invocations.filter((i) => i.ok && box.lambdas.find(i.function)?.logicalId.includes(step)).length;
    expect(ran('ModelStep')).toBeGreaterThan(0);
    expect(ran('ToolStep')).toBe(0);
    expect(box.denials).toEqual([]);
  });
});
