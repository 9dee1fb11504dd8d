import { randomBytes } from 'node:crypto';
import { ECSClient } from '@aws-sdk/client-ecs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../cli/local/host.ts';
import { FargateSandboxes } from '../../adapters/sandbox/fargate.ts';
import { RemoteSandboxes } from '../../adapters/sandbox/remote.ts';
import { agentToken } from '../../adapters/sandbox/tokens.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { SecretNotFoundError } from '../../core/errors.ts';
import { brokerHandler } from '../../functions/sandbox/broker.ts';
import { packFolder } from '../../infra/sandbox-image/repo-archive.ts';
import { startFakeEcs, type FakeEcs } from '../support/fake-ecs.ts';
import { startFakeLambda, type FakeLambda } from '../support/fake-lambda.ts';
import { startFakeS3, type FakeS3 } from '../support/fake-s3.ts';
import { runToEnd, testHost } from '../support/local-host.ts';
import { canRunSandboxAgent, startAgentTask } from '../support/sandbox-agent.ts';

/**
 * The coding loop of sandbox-loop.test.ts with the sandbox the deployed stack uses: the
 * steps' RemoteSandboxes invokes the broker (a local Lambda Invoke endpoint running the
 * broker's handler), which starts an "ECS task" (a local ECS endpoint whose task is the
 * real sandbox agent on 127.0.0.1) and reaches it with the agent token. Same ASL, handlers
 * and DynamoDB Local as `looprail run`; only the sandbox provider differs.
 */

const CLUSTER = 'arn:aws:ecs:us-east-1:123456789012:cluster/looprail-sandboxes';
const PREFIX = 'looprail-sandbox-';
const BUCKET = 'looprail-sandbox-repos';
const BROKER = 'looprail-sandbox-broker';
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' };
const key = randomBytes(32).toString('hex');

let host: LocalHost & { stateDir: string };
let ecs: FakeEcs;
let s3: FakeS3;
let lambda: FakeLambda;
const clients: Array<{ destroy(): void }> = [];

beforeAll(async () => {
  if (!canRunSandboxAgent) return;
  // The archive exactly as the stack packs it at synth.
  s3 = await startFakeS3(
    new Map([[`${BUCKET}/repos/coder.tar.gz`, packFolder('test/fixtures/sandbox-org/repos/calc').bytes]]),
  );
  ecs = await startFakeEcs({
    cluster: CLUSTER,
    families: [`${PREFIX}coder`, `${PREFIX}crasher`, `${PREFIX}scripter`],
    startTask: startAgentTask,
  });
  const ecsClient = new ECSClient({ region: 'us-east-1', endpoint: ecs.url, credentials, maxAttempts: 1 });
  const s3Client = new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    credentials,
    forcePathStyle: true,
    maxAttempts: 1,
  });
  const broker = new FargateSandboxes({
    cluster: CLUSTER,
    subnets: ['subnet-0a1'],
    securityGroups: ['sg-0sandbox'],
    taskFamilyPrefix: PREFIX,
    secrets: {
      get: async (name) =>
        name === 'looprail/sandbox-signing-key'
          ? key
          : Promise.reject(new SecretNotFoundError(`secret "${name}" not found`)),
    },
    reposBucket: BUCKET,
    repos: { coder: 'repos/coder.tar.gz' },
    ecs: ecsClient,
    s3: s3Client,
    agentPort: (taskArn) => ecs.portOf(taskArn),
    timing: { firstPollMs: 5, maxPollMs: 50 },
  });
  lambda = await startFakeLambda({ [BROKER]: brokerHandler(() => broker) });
  const lambdaClient = new LambdaClient({ region: 'us-east-1', endpoint: lambda.url, credentials, maxAttempts: 1 });
  clients.push(ecsClient, s3Client, lambdaClient);
  const sandboxes = new RemoteSandboxes({ functionName: BROKER, client: lambdaClient });
  host = await testHost('test/fixtures/sandbox-org', { wrapDeps: (deps) => ({ ...deps, sandboxes }) });
});
afterAll(async () => {
  await host?.close();
  await ecs?.close();
  await s3?.close();
  await lambda?.close();
  for (const client of clients) client.destroy();
});

const sandboxCalls = (trace: TraceEvent[]) =>
  trace.filter((event) => event.kind === 'tool_call' && event.server === 'sandbox');
const tasksOf = (runId: string) => [...ecs.tasks.values()].filter((task) => task.startedBy === runId);

describe.skipIf(!canRunSandboxAgent)(
  'a coding loop in a Fargate sandbox, through the broker (the agent drops to its own uid: skipped unless the tests run as root)',
  () => {
    it('reproduces the failing test, fixes it, and the checker verifies it in the same task; the task stops with the run', async () => {
      const { runId, meta, trace } = await runToEnd(host, 'coder', { task: 'The sum test fails: fix it.' });
      expect(meta).toMatchObject({ status: 'finished', stopReason: 'verified', modelCalls: 5, verifyAttempts: 1 });
      expect(sandboxCalls(trace).map((event) => [event.tool, event.status])).toEqual([
        ['list_files', 'ok'],
        ['exec', 'error'],
        ['read_file', 'ok'],
        ['write_file', 'ok'],
        ['exec', 'ok'],
      ]);
      const [failing, passing] = sandboxCalls(trace).filter((event) => event.tool === 'exec');
      expect(failing!.sandbox).toMatchObject({ command: 'node test.js', exitCode: 1 });
      expect(failing!.detail).toContain('sum of nothing is 0');
      expect(passing!.detail).toContain('all tests passed');
      // Metered from the agent's answers, priced like the local sandbox's.
      for (const event of sandboxCalls(trace))
        expect(event.costMicros).toBe(Math.round(event.sandbox!.durationMs / 10));

      // verify.checks ran the tests in the same task first, then the checker.
      const [check, verdict] = trace.filter((event) => event.kind === 'verification');
      expect(check).toMatchObject({ role: 'maker', name: 'tests', status: 'pass' });
      expect(check!.detail).toContain('all tests passed');
      const checkerRunId = verdict!.childRunId!;
      const checkerTrace = await host.deps.store.listTrace(checkerRunId);
      expect(sandboxCalls(checkerTrace).map((event) => [event.tool, event.status])).toEqual([
        ['diff', 'ok'],
        ['read_file', 'ok'],
      ]);
      const seen = JSON.stringify(
        (await host.deps.store.loadState(checkerRunId))!.messages.filter((message) => message.role === 'tool'),
      );
      expect(seen).toContain('+  let total = 0;');
      expect(seen).toContain('all tests passed');

      // One task for the maker and its checker, started once, stopped at FinishRun.
      const runTasks = ecs.requests.filter(
        (request) => request.action === 'RunTask' && request.body.startedBy === runId,
      );
      expect(runTasks).toHaveLength(1);
      expect(runTasks[0]!.body).toMatchObject({
        taskDefinition: `${PREFIX}coder`,
        networkConfiguration: { awsvpcConfiguration: { assignPublicIp: 'DISABLED' } },
      });
      expect(tasksOf(runId).map((task) => [task.desiredStatus, task.stoppedReason])).toEqual([
        ['STOPPED', 'looprail: run ended'],
      ]);
      expect(
        lambda.invocations
          .filter((invocation) => invocation.payload.op === 'destroy')
          .map((invocation) => invocation.payload.sandboxId),
      ).toContain(runId);
      // The steps never held the agent token: it is in no Invoke, answer or ECS request.
      const recorded = JSON.stringify([lambda.invocations, ecs.requests.map((request) => request.raw)]);
      expect(recorded).not.toContain(agentToken(key, runId));
      expect(recorded).not.toContain(key);
    });

    it('runs a code-mode program whose tool calls come back out of the VPC to the gateway, round by round', async () => {
      const { runId, meta, trace, messages } = await runToEnd(host, 'scripter', {
        task: "Triage last night's test logs.",
      });
      expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed', modelCalls: 2 });
      const runCode = trace.find((event) => event.kind === 'tool_call' && event.name === 'sandbox.run_code')!;
      expect(runCode).toMatchObject({ status: 'ok', sandbox: { exitCode: 0 } });
      const inner = trace.filter((event) => event.callId?.startsWith(`${runCode.callId}.`));
      expect(inner.map((event) => [event.kind, event.name, event.status])).toEqual(
        expect.arrayContaining([
          ['tool_call', 'reports.list_directory', 'ok'],
          ['tool_call', 'reports.read_text_file', 'ok'],
          ['tool_call', 'notes.create_entities', 'ok'],
          ['tool_denied', 'sandbox__exec', 'denied'],
        ]),
      );
      const printed = (
        messages.filter((message) => message.role === 'tool').flatMap((message) => message.content)[0] as {
          content: string;
        }
      ).content;
      expect(JSON.parse(printed.slice(printed.indexOf('\n') + 1))).toMatchObject({
        logs: 2,
        failures: expect.arrayContaining(['web-nightly.log: web/cart.spec.ts > shows the total']),
      });
      // The script ran in rounds through the broker: started, then its calls' results handed back.
      const ops = lambda.invocations
        .filter((invocation) => invocation.payload.sandboxId === runId)
        .map((invocation) => invocation.payload.op);
      expect(ops).toContain('script_start');
      expect(ops).toContain('script_results');
      expect(tasksOf(runId).map((task) => task.desiredStatus)).toEqual(['STOPPED']);
    });

    it('stops the task of a run that fails (FailRun), like one that finishes', async () => {
      const { runId, meta, trace } = await runToEnd(host, 'crasher', { task: 'Write a note, then fail.' });
      expect(meta).toMatchObject({ status: 'failed', stopReason: 'error' });
      expect(sandboxCalls(trace).map((event) => [event.tool, event.status])).toEqual([['write_file', 'ok']]);
      expect(tasksOf(runId).map((task) => [task.desiredStatus, task.stoppedReason])).toEqual([
        ['STOPPED', 'looprail: run ended'],
      ]);
    });
  },
);
