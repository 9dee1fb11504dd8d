import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadOrgFolder } from '../adapters/catalog/fs-loader.ts';
import { startDynamoDbLocal } from '../cli/local/dynamodb-local.ts';
import { LocalExecutor, loadDefinition } from '../cli/local/executor.ts';
import { startLocalHost } from '../cli/local/host.ts';
import type { StepFunctionName } from '../core/definitions/steps.ts';
import type { StepHandler } from '../functions/_shared/handlers.ts';
import { OpenAiProvider } from '../adapters/models/openai.ts';
import { LocalSecretStore } from '../adapters/secrets/local-secrets.ts';
import { costMicros } from '../core/budgets/pricing.ts';
import { GuardrailPolicy } from '../core/definitions/guardrails.ts';
import { ModelDeclaration } from '../core/definitions/org.ts';
import { screen } from '../core/guardrails/screen.ts';
import { openai } from '../test/support/fake-model-servers.ts';
import { countCapacity } from './dynamodb-capacity.ts';
import { stepTimer } from './step-timer.ts';
import { logBytes } from './log-bytes.ts';
import { budgetThroughput } from './budget-throughput.ts';
import { handlerBundles } from './bundles.ts';
import { infraCost } from './cost.ts';
import { costMarkdown } from './cost-report.ts';
import { secretsPerIteration } from './secrets.ts';
import { appendTokenReport } from './token-report.ts';
import { sandboxMarkdown, sandboxOverhead } from './sandbox.ts';
import { boxMarkdown, boxRun } from './box.ts';
import { redactionCost, redactionMarkdown } from './redaction.ts';
import { storeRequestCounter } from '../test/support/store-requests.ts';
import { readingAsBefore, storeRequestsMarkdown, storeRequestsPerIteration } from './store-requests.ts';
import { cliReads, cliReadsMarkdown } from './cli-reads.ts';

/**
 * `npm run bench`: what the runtime itself costs in time and requests, measured here
 * (2 cores, shared and noisy: read medians, and compare runs on the same machine only).
 * Writes bench/report.md and bench/report.json.
 */

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

async function validation() {
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = performance.now();
    const { catalog } = await loadOrgFolder('agents');
    if (!catalog) throw new Error('agents/ does not validate');
    times.push(performance.now() - start);
  }
  return { p50_ms: round(percentile(times, 50)), p99_ms: round(percentile(times, 99)) };
}

/** The ASL on the local engine with handlers that do nothing, against a bare loop calling the same functions. */
async function orchestrationOverhead(iterations = 1000) {
  let remaining = iterations;
  const marks: number[] = [];
  const noop = { runId: 'r', seq: 0 };
  const handlers: Record<StepFunctionName, StepHandler> = {
    StartRun: async () => ({ ...noop, next: 'model' }),
    ModelStep: async () => {
      marks.push(performance.now());
      // An iteration as most are now: the ModelStep makes its turn's calls and routes back to itself.
      return { ...noop, next: remaining-- > 0 ? 'model' : 'finish' };
    },
    ToolStep: async () => ({ ...noop, next: 'model' }),
    RequestApproval: async () => ({}),
    Verify: async () => ({ ...noop, next: 'finish' }),
    FinishRun: async () => ({ ...noop, next: 'finish' }),
    FailRun: async () => ({ runId: 'r', failed: true }),
  };
  const executor = new LocalExecutor({ handlers });
  const outcome = await executor.run({ runId: 'r' });
  const perIteration = marks.slice(1).map((mark, i) => mark - marks[i]!);

  const bare: number[] = [];
  remaining = iterations;
  let control = (await handlers.StartRun(noop)) as { next: string };
  let last = performance.now();
  while (control.next !== 'finish') {
    if (control.next === 'model') {
      const now = performance.now();
      bare.push(now - last);
      last = now;
      control = (await handlers.ModelStep(noop)) as { next: string };
    } else control = (await handlers.ToolStep(noop)) as { next: string };
  }
  const entered = outcome.statesEntered.filter((state) => state === 'ModelStep').length;
  return {
    iterations,
    p50_ms: round(percentile(perIteration, 50), 3),
    p99_ms: round(percentile(perIteration, 99), 3),
    bare_loop_p50_ms: round(percentile(bare.slice(1), 50), 4),
    transitions_per_iteration: round(outcome.statesEntered.length / entered, 2),
    history_events_per_iteration: round(outcome.historyEvents / entered, 2),
  };
}

/**
 * The local engine logs entered/exited per state; Step Functions records more per Lambda
 * Task (Entered, Scheduled, Started, Succeeded, Exited) and two for a Choice. This is the
 * count the 25,000-event history limit applies to.
 */
function awsHistoryEvents(statesEntered: string[]): number {
  const { definition } = loadDefinition();
  const states = definition.States as Record<string, { Type: string }>;
  return statesEntered.reduce((sum, name) => sum + (states[name]?.Type === 'Task' ? 5 : 2), 0);
}

/** A real loop: scripted model (no latency), the everything MCP server over stdio, DynamoDB Local. */
async function realLoop() {
  const dynamo = await startDynamoDbLocal({ inMemory: true });
  const stateDir = await mkdtemp(join(tmpdir(), 'looprail-bench-'));
  const stepStarts: number[] = [];
  const timer = stepTimer();
  const logs = logBytes();
  const counter = storeRequestCounter();
  let asBefore = false;
  const host = await startLocalHost({
    orgDir: 'bench/org',
    stateDir,
    dynamodbEndpoint: dynamo.endpoint,
    tableName: 'bench',
    wrapHandlers: (handlers) => counter.wrapHandlers(readingAsBefore(() => asBefore)(timer.wrap(handlers))),
    log: logs.log,
    wrapDeps: logs.wrapDeps,
  });
  const capacity = countCapacity(host.dynamodb, host.tableName);
  counter.attach(host.dynamodb);
  let requests = 0;
  let bytes = 0;
  host.dynamodb.middlewareStack.add(
    (next) => async (args) => {
      requests += 1;
      bytes += Buffer.byteLength(JSON.stringify((args as { input: unknown }).input));
      return next(args);
    },
    { step: 'initialize', name: 'benchCounter' },
  );
  try {
    // A warm-up run starts the MCP server and the JVM's JIT; the second run is measured.
    await host.run({ agent: 'bench-loop', input: {} });
    requests = 0;
    bytes = 0;
    capacity.reset();
    timer.reset();
    logs.reset();
    const started = performance.now();
    const result = await host.run({ agent: 'bench-loop', input: {} });
    const elapsed = performance.now() - started;
    const trace = await host.deps.store.listTrace(result.runId);
    const models = trace.filter((event) => event.kind === 'model_call');
    for (const event of models) stepStarts.push(Date.parse(event.startedAt));
    const perIteration = stepStarts.slice(1).map((start, i) => start - stepStarts[i]!);
    const iterations = result.meta.toolCalls;
    const units = await capacity.totals();
    const figures = {
      iterations,
      stop_reason: result.meta.stopReason,
      wall_ms: round(elapsed, 0),
      iteration_p50_ms: round(percentile(perIteration, 50), 1),
      iteration_p99_ms: round(percentile(perIteration, 99), 1),
      dynamodb_requests_per_iteration: round(requests / iterations, 2),
      dynamodb_request_bytes_per_iteration: round(bytes / iterations, 0),
      transitions_per_iteration: round(result.outcome!.statesEntered.length / models.length, 2),
      history_events_per_iteration: round(result.outcome!.historyEvents / models.length, 2),
      aws_history_events_per_iteration_estimate: round(
        awsHistoryEvents(result.outcome!.statesEntered) / models.length,
        2,
      ),
      largest_state_payload_bytes: result.outcome!.largestPayloadBytes,
      dynamodb_read_units_per_iteration: round(units.readUnits / iterations, 2),
      dynamodb_write_units_per_iteration: round(units.writeUnits / iterations, 2),
      dynamodb_transactional_write_units_per_iteration: round(units.transactionalWriteUnits / iterations, 2),
      dynamodb_index_write_units_per_iteration: round(units.indexWriteUnits / iterations, 2),
      lambda_steps: timer.byStep(),
      log_bytes_per_iteration: round(logs.totals().bytes / iterations, 0),
      log_lines_per_iteration: round(logs.totals().lines / iterations, 2),
    };
    // After the figures above, which are the measured bench-loop run's alone.
    const store_requests = await storeRequestsPerIteration(host, counter, (before) => {
      asBefore = before;
    });
    return { ...figures, store_requests };
  } finally {
    await host.close();
    await dynamo.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/**
 * The model gateway's own cost per call: our OpenAI-compatible adapter (key by name,
 * request mapping, response validation), guardrails on the answer and pricing, against
 * the same request made directly with fetch, both to a zero-latency local server.
 */
async function modelGatewayOverhead(calls = 1000) {
  const server = await openai.start();
  const answer = () =>
    openai.completion({
      text: 'Two failures overnight: totals.spec.ts is broken, checkout-flow.spec.ts is flaky. Owner: payments@example.com.',
      usage: { prompt_tokens: 2300, completion_tokens: 40, cached_tokens: 2048 },
    });
  const secrets = new LocalSecretStore({
    env: { LOOPRAIL_SECRET_BENCH_KEY: ['sk', 'bench', '0'.repeat(22)].join('-') },
  });
  const provider = new OpenAiProvider({ secrets });
  const model = {
    name: 'gpt-bench',
    declaration: ModelDeclaration.parse({
      provider: 'openai',
      model_id: 'gpt-4.1',
      base_url: `${server.url}/v1`,
      secret: 'bench-key',
      price: { input_per_mtok: 2, output_per_mtok: 8, cached_input_per_mtok: 0.5 },
    }),
  };
  const policy = GuardrailPolicy.parse({
    pii: { action: 'redact' },
    prompt_injection: { action: 'flag', stages: ['model_output'] },
    size_limits: { model_output_chars: 100_000 },
  });
  const request = {
    runId: 'r-bench',
    role: 'maker' as const,
    callIndex: 0,
    model,
    system: 'You triage CI failures.',
    messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'Triage last night.' }] }],
    tools: [],
    maxOutputTokens: 1024,
  };
  const body = JSON.stringify({
    model: 'gpt-4.1',
    messages: [
      { role: 'system', content: 'You triage CI failures.' },
      { role: 'user', content: 'Triage last night.' },
    ],
    max_completion_tokens: 1024,
  });
  const direct: number[] = [];
  const gateway: number[] = [];
  try {
    for (let i = 0; i < calls + 50; i++) {
      server.reply(answer(), answer());
      let start = performance.now();
      const raw = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-0000000000000000000000' },
        body,
      });
      await raw.json();
      if (i >= 50) direct.push(performance.now() - start);
      start = performance.now();
      const response = await provider.complete(request);
      for (const block of response.content) if (block.type === 'text') screen(block.text, 'model_output', policy);
      costMicros(model.declaration.price, response);
      if (i >= 50) gateway.push(performance.now() - start);
    }
  } finally {
    await server.close();
  }
  return {
    calls,
    direct_p50_ms: round(percentile(direct, 50), 3),
    direct_p99_ms: round(percentile(direct, 99), 3),
    gateway_p50_ms: round(percentile(gateway, 50), 3),
    gateway_p99_ms: round(percentile(gateway, 99), 3),
    overhead_p50_ms: round(percentile(gateway, 50) - percentile(direct, 50), 3),
  };
}

const report = {
  measured_at: new Date().toISOString(),
  machine: `${process.platform} ${process.arch}, ${cpus().length} cores, load average ${loadavg()
    .map((n) => n.toFixed(1))
    .join(' ')} at the start, Node ${process.version}`,
  validation_of_agents: await validation(),
  orchestration_overhead: await orchestrationOverhead(),
  real_loop: await realLoop(),
  model_gateway: await modelGatewayOverhead(),
};

const md = `# looprail benchmark

Measured ${report.measured_at} on ${report.machine}. Shared, noisy machine: compare medians from the same machine only.

## Validating agents/ (load + schema + cross-file checks)

| p50 | p99 |
|---|---|
| ${report.validation_of_agents.p50_ms} ms | ${report.validation_of_agents.p99_ms} ms |

## Orchestration overhead per loop iteration

The ASL run by aws-local-stepfunctions with handlers that do nothing, ${report.orchestration_overhead.iterations} iterations (ModelStep → Route → ModelStep: the ModelStep makes its turn's calls; a turn the ToolStep makes adds its Task and one more transition), against a bare loop calling the same functions.

| per iteration p50 | p99 | bare loop p50 | transitions / iteration | history events / iteration |
|---|---|---|---|---|
| ${report.orchestration_overhead.p50_ms} ms | ${report.orchestration_overhead.p99_ms} ms | ${report.orchestration_overhead.bare_loop_p50_ms} ms | ${report.orchestration_overhead.transitions_per_iteration} | ${report.orchestration_overhead.history_events_per_iteration} |

## A real loop on the local host

${report.real_loop.iterations} iterations of one scripted model call (zero latency) and one MCP tool call (server-everything \`echo\` over stdio), on DynamoDB Local; the run ends \`${report.real_loop.stop_reason}\`.

| iteration p50 | p99 | DynamoDB requests / iteration | request bytes / iteration | transitions / iteration | history events / iteration (local engine) | on AWS (estimate) | largest state payload |
|---|---|---|---|---|---|---|---|
| ${report.real_loop.iteration_p50_ms} ms | ${report.real_loop.iteration_p99_ms} ms | ${report.real_loop.dynamodb_requests_per_iteration} | ${report.real_loop.dynamodb_request_bytes_per_iteration} B | ${report.real_loop.transitions_per_iteration} | ${report.real_loop.history_events_per_iteration} | ${report.real_loop.aws_history_events_per_iteration_estimate} | ${report.real_loop.largest_state_payload_bytes} B |

Per iteration the ModelStep reads the run in one Query, commits the model's answer, then makes the call: echo is declared as a tool that may write, so its call is claimed before and recorded after (two more writes), which is what lets a crashed step replay it exactly instead of calling it twice, and its result is committed last. The capacity and cost figures below are this run of bench-loop's.
${storeRequestsMarkdown(report.real_loop.store_requests)}
## Model gateway overhead per call

${report.model_gateway.calls} calls to a zero-latency OpenAI-compatible server on 127.0.0.1: our adapter (key by name, mapping, response validation) plus guardrails on the answer (PII, prompt injection, size) and pricing, against the same request made directly with fetch.

| direct p50 | direct p99 | through the gateway p50 | p99 | overhead p50 |
|---|---|---|---|---|
| ${report.model_gateway.direct_p50_ms} ms | ${report.model_gateway.direct_p99_ms} ms | ${report.model_gateway.gateway_p50_ms} ms | ${report.model_gateway.gateway_p99_ms} ms | ${report.model_gateway.overhead_p50_ms} ms |
`;

const secretsManager = await secretsPerIteration();
const costFigures = {
  secrets_manager: secretsManager,
  lambda_bundles: await handlerBundles(),
  infra_cost: await infraCost(report.real_loop, secretsManager.api_calls_per_iteration_amortized),
  budget_reservations: await budgetThroughput(),
};
const sandbox = await sandboxOverhead();
const box = await boxRun();
const redaction = await redactionCost();
const reads = await cliReads();
const fullMd =
  md +
  redactionMarkdown(redaction) +
  costMarkdown(costFigures) +
  sandboxMarkdown(sandbox) +
  boxMarkdown(box) +
  cliReadsMarkdown(reads);

await writeFile(
  'bench/report.json',
  `${JSON.stringify({ ...report, redaction, ...costFigures, sandbox, box, cli_reads: reads }, null, 2)}\n`,
);
await writeFile('bench/report.md', fullMd);
console.log(fullMd);
await appendTokenReport('bench/report.json', 'bench/report.md');
