import { once } from 'node:events';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDynamoDbLocal } from '../cli/local/dynamodb-local.ts';
import { startLocalHost } from '../cli/local/host.ts';
import type { SecretStore } from '../core/ports/secrets.ts';
import type { AgentScope, RunDeps } from '../core/run/deps.ts';
import type { StepFunctionName } from '../core/definitions/steps.ts';
import type { StepHandler } from '../functions/_shared/handlers.ts';
import { agentScopes } from '../functions/_shared/agent-clients.ts';
import { openai } from '../test/support/fake-model-servers.ts';

/**
 * Secrets Manager reads per loop iteration, the way the deployed steps read them: the
 * local host's steps act through agentScopes() (functions/_shared/agent-clients.ts), whose
 * SecretsManagerStore uses the real SDK clients against a local endpoint speaking STS
 * AssumeRole and Secrets Manager GetSecretValue (there is no emulator on npm). The model
 * is OpenAI-compatible on 127.0.0.1 and reads its key by name on every call; the MCP
 * server gets a token through env_secrets when it starts. Counted twice: lookups at the
 * SecretStore port, and GetSecretValue calls at the endpoint (what AWS bills).
 */

const MODEL_KEY = 'bench/model-key';
const MCP_TOKEN = 'bench/mcp-token';

/** STS AssumeRole (query protocol) and GetSecretValue (JSON protocol) on 127.0.0.1, counting calls. */
async function startAwsEndpoint() {
  const calls = { getSecretValue: [] as string[], assumeRole: 0 };
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.headers['x-amz-target'] === 'secretsmanager.GetSecretValue') {
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      calls.getSecretValue.push(SecretId);
      res
        .writeHead(200, { 'content-type': 'application/x-amz-json-1.1' })
        .end(JSON.stringify({ Name: SecretId, SecretString: `bench-value-of-${SecretId}` }));
      return;
    }
    calls.assumeRole += 1;
    const session = new URLSearchParams(body).get('RoleSessionName');
    const expiration = new Date(Date.now() + 3600_000).toISOString();
    res
      .writeHead(200, { 'content-type': 'text/xml' })
      .end(
        `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/bench/${session}</Arn><AssumedRoleId>AROABENCH:${session}</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>ASIABENCHTEMPORARY</AccessKeyId><SecretAccessKey>bench</SecretAccessKey><SessionToken>bench-session</SessionToken><Expiration>${expiration}</Expiration></Credentials></AssumeRoleResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Counts `get` on the store instance itself: agentScopes hands that same instance to the model providers and the MCP gateway. */
function countLookups(store: SecretStore, onLookup: () => void): void {
  const get = store.get.bind(store);
  store.get = (name) => {
    onLookup();
    return get(name);
  };
}

/** An org with one agent: the benchmark loop, with a keyed model and an MCP server given a token. */
async function writeOrg(dir: string, modelUrl: string): Promise<void> {
  await cp('bench/org/instructions.md', join(dir, 'instructions.md'));
  await cp('bench/org/mcp-servers', join(dir, 'mcp-servers'), { recursive: true });
  const server = join(dir, 'mcp-servers', 'everything.yaml');
  await writeFile(
    server,
    `name: everything\ndefer_loading: false\ntransport: { type: stdio, command: mcp-server-everything, args: [stdio], env_secrets: { BENCH_TOKEN: ${MCP_TOKEN} } }\ntools:\n  echo: {}\n`,
  );
  await writeFile(
    join(dir, 'models.yaml'),
    `models:\n  bench-keyed: { provider: openai, model_id: gpt-bench, base_url: ${modelUrl}/v1, secret: ${MODEL_KEY}, price: { input_per_mtok: 3, output_per_mtok: 15 } }\n`,
  );
  await writeFile(join(dir, 'secrets.yaml'), `secrets:\n  ${MODEL_KEY}: null\n  ${MCP_TOKEN}: null\n`);
  await writeFile(
    join(dir, 'bench-secrets.yaml'),
    'agent:\n  name: bench-secrets\n  owner: bench@example.com\n  team: bench\n  model: bench-keyed\n  instructions: ./instructions.md@v1\n  mcp_servers: [everything]\n  harness: { max_steps: 21, stall: { max_repeats: 1000 } }\n',
  );
}

interface RunCounts {
  iterations: number;
  lookups: number;
  api_calls: number;
  api_calls_in_first_iteration: number;
  api_calls_after_first_iteration: number;
  assume_role_calls: number;
}

function summary(perRun: RunCounts[], modelSteps: number) {
  const iterations = perRun.reduce((sum, run) => sum + run.iterations, 0);
  const apiCalls = perRun.reduce((sum, run) => sum + run.api_calls, 0);
  return {
    runs: perRun,
    model_steps: modelSteps,
    lookups_per_iteration: Number((perRun.reduce((sum, run) => sum + run.lookups, 0) / iterations).toFixed(2)),
    api_calls_per_iteration_after_first: Number(
      (
        perRun.reduce((sum, run) => sum + run.api_calls_after_first_iteration, 0) /
        (iterations - perRun.length)
      ).toFixed(3),
    ),
    /** Every GetSecretValue over every iteration: the per-run first reads spread over the run. */
    api_calls_per_iteration_amortized: Number((apiCalls / iterations).toFixed(3)),
    secrets: [MODEL_KEY, MCP_TOKEN],
  };
}

export async function secretsPerIteration(runs = 2) {
  const endpoint = await startAwsEndpoint();
  const model = await openai.start();
  const dynamo = await startDynamoDbLocal({ inMemory: true });
  const orgDir = await mkdtemp(join(tmpdir(), 'looprail-bench-secrets-org-'));
  const stateDir = await mkdtemp(join(tmpdir(), 'looprail-bench-secrets-'));
  const saved = { ...process.env };
  // The SDK clients agentScopes() builds find their endpoints and the step's own credentials here, as on Lambda.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_STS: endpoint.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIABENCHSTEPROLE00',
    AWS_SECRET_ACCESS_KEY: 'bench',
  });
  let lookups = 0;
  let modelSteps = 0;
  const atModelStep: Array<{ lookups: number; apiCalls: number }> = [];
  const scopes = new Set<AgentScope>();
  const counted = new WeakSet<SecretStore>();
  const scopeFor = agentScopes({
    roleArnPrefix: 'arn:aws:iam::123456789012:role/bench-agent-',
    projectRoot: process.cwd(),
    stateDir,
  });
  const wrapDeps = (deps: RunDeps): RunDeps => ({
    ...deps,
    scopeFor: (identity, runId) => {
      const scope = scopeFor(identity, runId);
      scopes.add(scope);
      if (scope.secrets && !counted.has(scope.secrets)) {
        counted.add(scope.secrets);
        countLookups(scope.secrets, () => (lookups += 1));
      }
      return scope;
    },
  });
  const wrapHandlers = (handlers: Record<StepFunctionName, StepHandler>) => ({
    ...handlers,
    ModelStep: (payload: unknown) => {
      modelSteps += 1;
      atModelStep.push({ lookups, apiCalls: endpoint.calls.getSecretValue.length });
      return handlers.ModelStep(payload);
    },
  });
  try {
    await writeOrg(orgDir, model.url);
    const host = await startLocalHost({
      orgDir,
      stateDir,
      dynamodbEndpoint: dynamo.endpoint,
      tableName: 'bench-secrets',
      wrapDeps,
      wrapHandlers,
    });
    const perRun: RunCounts[] = [];
    try {
      for (let run = 0; run < runs; run++) {
        const reply = () =>
          openai.completion({
            text: null,
            toolCalls: [
              {
                id: `call_${run}_${Math.random().toString(36).slice(2, 10)}`,
                name: 'everything__echo',
                arguments: '{"message":"tick"}',
              },
            ],
            usage: { prompt_tokens: 2000, completion_tokens: 40 },
          });
        model.reset();
        model.reply(...Array.from({ length: 40 }, reply));
        const start = {
          lookups,
          apiCalls: endpoint.calls.getSecretValue.length,
          assumeRole: endpoint.calls.assumeRole,
          steps: atModelStep.length,
        };
        const result = await host.run({ agent: 'bench-secrets', input: {} });
        // The second ModelStep of the run marks the end of its first iteration.
        const second = atModelStep[start.steps + 1] ?? { lookups, apiCalls: endpoint.calls.getSecretValue.length };
        const apiCalls = endpoint.calls.getSecretValue.length - start.apiCalls;
        perRun.push({
          iterations: result.meta.toolCalls,
          lookups: lookups - start.lookups,
          api_calls: apiCalls,
          api_calls_in_first_iteration: second.apiCalls - start.apiCalls,
          api_calls_after_first_iteration: endpoint.calls.getSecretValue.length - second.apiCalls,
          assume_role_calls: endpoint.calls.assumeRole - start.assumeRole,
        });
      }
    } finally {
      await host.close();
      for (const scope of scopes) await scope.tools.close();
    }
    return summary(perRun, modelSteps);
  } finally {
    process.env = saved;
    await dynamo.stop();
    await model.close();
    await endpoint.close();
    await rm(orgDir, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** Run alone: `node bench/secrets.ts`. */
if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await secretsPerIteration(), null, 2));
