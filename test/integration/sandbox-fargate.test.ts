import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ECSClient } from '@aws-sdk/client-ecs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ENV_AGENT_TOKEN_SHA256 } from '../../adapters/sandbox/aws-contract.ts';
import { FargateSandboxes, type FargateSandboxesOptions } from '../../adapters/sandbox/fargate.ts';
import { RemoteSandboxes } from '../../adapters/sandbox/remote.ts';
import { agentToken, egressToken, tokenDigest } from '../../adapters/sandbox/tokens.ts';
import { SandboxSpec } from '../../core/definitions/sandbox.ts';
import {
  ConfigurationError,
  SandboxCallError,
  SandboxUnavailableError,
  SecretNotFoundError,
  TransientError,
} from '../../core/errors.ts';
import type { Clock } from '../../core/ports/clock.ts';
import type { Sandbox, SandboxProvider, ScriptToolCall } from '../../core/ports/sandbox.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { brokerHandler, brokerOptionsFromEnv } from '../../functions/sandbox/broker.ts';
import { packFolder } from '../../infra/sandbox-image/repo-archive.ts';
import { sweepSandboxes } from '../../functions/sandbox/sweeper.ts';
import { startFakeEcs, type FakeEcs, type FakeTaskStart } from '../support/fake-ecs.ts';
import { startFakeLambda, type FakeLambda } from '../support/fake-lambda.ts';
import { startFakeS3, type FakeS3 } from '../support/fake-s3.ts';
import { canRunSandboxAgent, startAgentTask } from '../support/sandbox-agent.ts';

/**
 * The AWS sandbox end to end, minus AWS: the real SDK clients (ECS, S3, Lambda) against
 * local endpoints that speak their wire formats; each "task" the fake ECS starts is the
 * real sandbox agent on 127.0.0.1. The broker's provider (fargate.ts) directly, and the
 * steps' provider (remote.ts) through a Lambda Invoke endpoint that runs the broker's
 * handler, must give the same results; tokens never leave the broker.
 */

/** A port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
const CLUSTER = 'arn:aws:ecs:us-east-1:123456789012:cluster/looprail-sandboxes';
const PREFIX = 'looprail-sandbox-';
const BUCKET = 'looprail-sandbox-repos';
const BROKER = 'looprail-sandbox-broker';
const SIGNING = 'looprail/sandbox-signing-key';
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' };

/** Built at run time: no key-shaped literal in the source. */
const key = randomBytes(32).toString('hex');
const secrets: SecretStore = {
  get: async (name) => {
    if (name === SIGNING) return key;
    throw new SecretNotFoundError(`secret "${name}" not found`);
  },
};

const coderSpec = SandboxSpec.parse({
  memory_mb: 512,
  disk_mb: 64,
  command_timeout_seconds: 60,
  max_output_bytes: 8192,
  copy_in: { repository: { path: 'repos/calc' }, files: [{ path: 'TASK.md', from_input: 'task' }] },
});
const plainSpec = SandboxSpec.parse({ copy_in: { files: [] } });
const input = { task: 'The sum test fails: fix it.' };

let ecs: FakeEcs;
let s3: FakeS3;
let lambda: FakeLambda;
let ecsClient: ECSClient;
let s3Client: S3Client;
let lambdaClient: LambdaClient;
const logLines: unknown[] = [];
const log: Logger = {
  info: (m, f) => logLines.push([m, f]),
  warn: (m, f) => logLines.push([m, f]),
  error: (m, f) => logLines.push([m, f]),
};
const providers: FargateSandboxes[] = [];

function fargate(overrides: Partial<FargateSandboxesOptions> = {}): FargateSandboxes {
  const provider = new FargateSandboxes({
    cluster: CLUSTER,
    subnets: ['subnet-0a1', 'subnet-0b2'],
    securityGroups: ['sg-0sandbox'],
    taskFamilyPrefix: PREFIX,
    secrets,
    reposBucket: BUCKET,
    repos: { coder: 'repos/coder.tar.gz' },
    egressProxy: 'egress.looprail.internal:3128',
    ecs: ecsClient,
    s3: s3Client,
    log,
    agentPort: (taskArn) => ecs.portOf(taskArn),
    timing: { firstPollMs: 5, maxPollMs: 50, startTimeoutMs: 30_000, healthTimeoutMs: 30_000 },
    ...overrides,
  });
  providers.push(provider);
  return provider;
}

let brokerSide: FargateSandboxes;
let remote: RemoteSandboxes;

beforeAll(async () => {
  // The archive exactly as the stack packs it at synth.
  s3 = await startFakeS3(
    new Map([[`${BUCKET}/repos/coder.tar.gz`, packFolder('test/fixtures/sandbox-org/repos/calc').bytes]]),
  );
  // A `mute` task runs but nothing answers on its agent's port (an image whose entry point is wrong).
  const startTask = async (task: FakeTaskStart) =>
    task.family === `${PREFIX}mute` ? { port: await closedPort(), stop: async () => {} } : startAgentTask(task);
  ecs = await startFakeEcs({
    cluster: CLUSTER,
    families: [`${PREFIX}coder`, `${PREFIX}plain`, `${PREFIX}fetcher`, `${PREFIX}mute`],
    startTask,
  });
  ecsClient = new ECSClient({ region: 'us-east-1', endpoint: ecs.url, credentials, maxAttempts: 1 });
  s3Client = new S3Client({ region: 'us-east-1', endpoint: s3.url, credentials, forcePathStyle: true, maxAttempts: 1 });
  brokerSide = fargate();
  lambda = await startFakeLambda({ [BROKER]: brokerHandler(() => brokerSide) });
  lambdaClient = new LambdaClient({ region: 'us-east-1', endpoint: lambda.url, credentials, maxAttempts: 1 });
  remote = new RemoteSandboxes({ functionName: BROKER, client: lambdaClient });
});
afterAll(async () => {
  await ecs?.close();
  await s3?.close();
  await lambda?.close();
  ecsClient?.destroy();
  s3Client?.destroy();
  lambdaClient?.destroy();
});
beforeEach(async () => {
  await ecs.reset();
  lambda.invocations.length = 0;
  s3.gets.length = 0;
  logLines.length = 0;
});

const runTasks = () => ecs.requests.filter((request) => request.action === 'RunTask');
const stopTasks = () => ecs.requests.filter((request) => request.action === 'StopTask');
const liveTasks = () => [...ecs.tasks.values()].filter((task) => task.desiredStatus === 'RUNNING');

/** Nothing the broker sent or logged, and nothing it answered, carries the agent token or the key. */
function expectNoSecrets(sandboxIds: string[]) {
  const recorded = JSON.stringify([ecs.requests.map((request) => request.raw), s3.gets, lambda.invocations, logLines]);
  expect(recorded).not.toContain(key);
  for (const id of sandboxIds) expect(recorded).not.toContain(agentToken(key, id));
}

describe('FargateSandboxes (the broker side)', () => {
  it.skipIf(!canRunSandboxAgent)(
    'starts exactly one task on the first call, with the right RunTask request, and copies the repository and input in',
    async () => {
      const sandbox = await fargate().open({ sandboxId: 'run-first', agent: 'coder', spec: coderSpec, input });
      expect(runTasks()).toHaveLength(1);
      const request = runTasks()[0]!.body;
      expect(request).toMatchObject({
        cluster: CLUSTER,
        taskDefinition: `${PREFIX}coder`,
        launchType: 'FARGATE',
        count: 1,
        startedBy: 'run-first',
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ['subnet-0a1', 'subnet-0b2'],
            securityGroups: ['sg-0sandbox'],
            assignPublicIp: 'DISABLED',
          },
        },
        tags: [
          { key: 'looprail:sandbox', value: 'run-first' },
          { key: 'looprail:agent', value: 'coder' },
        ],
      });
      expect(request.clientToken.length).toBeLessThanOrEqual(64);
      // The container gets the token's digest and nothing else: no proxy under network: none.
      expect(request.overrides).toEqual({
        containerOverrides: [
          {
            name: 'workspace',
            environment: [{ name: ENV_AGENT_TOKEN_SHA256, value: tokenDigest(agentToken(key, 'run-first')) }],
          },
        ],
      });
      expect(runTasks()[0]!.authorization).toContain('AWS4-HMAC-SHA256 Credential=AKIDTEST/');

      const listing = await sandbox.listFiles('.', 3, 100);
      expect(listing.value.entries).toEqual(expect.arrayContaining(['TASK.md', 'src/', 'src/sum.js', 'test.js']));
      expect((await sandbox.readFile('TASK.md', 1000)).value.content).toBe(input.task);
      const failing = await sandbox.exec({ command: 'node test.js', cwd: '.', timeoutSeconds: 30 });
      expect(failing.value.exitCode).toBe(1);
      expect(failing.value.output).toContain('sum of nothing is 0');
      expect(sandbox.usedMs()).toBeGreaterThanOrEqual(failing.durationMs);
      expect(s3.gets).toEqual([`${BUCKET}/repos/coder.tar.gz`]);
      expectNoSecrets(['run-first']);
    },
  );

  it.skipIf(!canRunSandboxAgent)(
    'reuses the running task for later calls, in this broker and in a cold one',
    async () => {
      const warm = fargate();
      const first = await warm.open({ sandboxId: 'run-reuse', agent: 'coder', spec: coderSpec, input });
      await first.writeFile('notes.txt', 'kept');
      const again = await warm.open({ sandboxId: 'run-reuse', agent: 'coder', spec: coderSpec, input });
      const cold = await fargate().open({ sandboxId: 'run-reuse', agent: 'coder', spec: coderSpec, input });
      expect((await cold.readFile('notes.txt', 100)).value.content).toBe('kept');
      expect((await again.exec({ command: 'cat notes.txt', cwd: '.', timeoutSeconds: 10 })).value.output).toBe('kept');
      expect(runTasks()).toHaveLength(1);
      expect(liveTasks()).toHaveLength(1);
      // Copied in once: the archive was read for the first open only.
      expect(s3.gets).toHaveLength(1);
      // The meter is the sandbox's own, whoever asks.
      expect(cold.usedMs()).toBeGreaterThan(0);
    },
  );

  it.skipIf(!canRunSandboxAgent)(
    'starts one task for concurrent first calls, in one broker and across brokers',
    async () => {
      const a = fargate();
      const b = fargate();
      const opened = await Promise.all([
        a.open({ sandboxId: 'run-race', agent: 'coder', spec: coderSpec, input }),
        a.open({ sandboxId: 'run-race', agent: 'coder', spec: coderSpec, input }),
        b.open({ sandboxId: 'run-race', agent: 'coder', spec: coderSpec, input }),
        b.open({ sandboxId: 'run-race', agent: 'coder', spec: coderSpec, input }),
      ]);
      expect(ecs.tasks.size).toBe(1);
      await opened[0]!.writeFile('from-a.txt', 'a');
      expect((await opened[3]!.readFile('from-a.txt', 10)).value.content).toBe('a');
    },
  );

  it.skipIf(!canRunSandboxAgent)(
    'keeps the oldest task when a race past the clientToken window started two, and stops the other',
    async () => {
      const older = ecs.addTask({
        family: `${PREFIX}plain`,
        startedBy: 'run-two',
        createdAt: new Date(Date.now() - 60_000),
        start: { env: { [ENV_AGENT_TOKEN_SHA256]: tokenDigest(agentToken(key, 'run-two')) } },
      });
      const newer = ecs.addTask({
        family: `${PREFIX}plain`,
        startedBy: 'run-two',
        createdAt: new Date(Date.now() - 30_000),
        start: { env: { [ENV_AGENT_TOKEN_SHA256]: tokenDigest(agentToken(key, 'run-two')) } },
      });
      const sandbox = await fargate().open({ sandboxId: 'run-two', agent: 'plain', spec: plainSpec, input: {} });
      await sandbox.writeFile('x.txt', 'x');
      expect(runTasks()).toHaveLength(0);
      expect(stopTasks().map((request) => [request.body.task, request.body.reason])).toEqual([
        [newer.taskArn, 'looprail: duplicate sandbox task'],
      ]);
      expect(older.desiredStatus).toBe('RUNNING');
      expect(newer.desiredStatus).toBe('STOPPED');

      // Two brokers in different 10-minute windows (different clientTokens) converge on one task too.
      const clockAt = (ms: number): Clock => ({ now: () => new Date(ms) });
      const now = Date.now();
      const [x, y] = await Promise.all([
        fargate({ clock: clockAt(now) }).open({ sandboxId: 'run-window', agent: 'plain', spec: plainSpec, input: {} }),
        fargate({ clock: clockAt(now + 600_000) }).open({
          sandboxId: 'run-window',
          agent: 'plain',
          spec: plainSpec,
          input: {},
        }),
      ]);
      expect(liveTasks().filter((task) => task.startedBy === 'run-window')).toHaveLength(1);
      await x.writeFile('shared.txt', 'one workspace');
      expect((await y.readFile('shared.txt', 100)).value.content).toBe('one workspace');
    },
  );

  it.skipIf(!canRunSandboxAgent)('stops the sandbox on destroy, and then has nothing to do', async () => {
    const provider = fargate();
    const sandbox = await provider.open({ sandboxId: 'run-end', agent: 'plain', spec: plainSpec, input: {} });
    await provider.destroy('run-end');
    expect(stopTasks().map((request) => request.body)).toEqual([
      { cluster: CLUSTER, task: [...ecs.tasks.keys()][0], reason: 'looprail: run ended' },
    ]);
    expect(liveTasks()).toHaveLength(0);
    const after = await sandbox.exec({ command: 'true', cwd: '.', timeoutSeconds: 5 }).catch((error: Error) => error);
    expect(after).toBeInstanceOf(SandboxUnavailableError);
    expect((after as Error).message).toBe(
      'run run-end has no running sandbox: it was never opened, or it stopped (its idle or lifetime limit, or the run ended)',
    );
    await provider.destroy('run-end');
    await provider.destroy('run-never');
    expect(stopTasks()).toHaveLength(1);
  });

  it.skipIf(!canRunSandboxAgent)('finds the task again when a cached address stops answering', async () => {
    const warm = fargate();
    const sandbox = await warm.open({ sandboxId: 'run-moved', agent: 'plain', spec: plainSpec, input: {} });
    // Another broker ends the task and starts a new one: this broker's cached address is stale.
    const other = fargate();
    await other.destroy('run-moved');
    await other.open({ sandboxId: 'run-moved', agent: 'plain', spec: plainSpec, input: {} });
    const result = await sandbox.exec({ command: 'echo moved', cwd: '.', timeoutSeconds: 5 });
    expect(result.value.output).toBe('moved\n');
    expect(ecs.requests.filter((request) => request.action === 'ListTasks').length).toBeGreaterThanOrEqual(3);
  });

  it.skipIf(!canRunSandboxAgent)(
    'says why when the task stops before it runs, and starts afresh on the next call',
    async () => {
      ecs.failNextStart(
        'Task failed to start',
        'CannotPullContainerError: pull image manifest has been retried 5 time(s): not found',
      );
      const provider = fargate();
      const error = await provider
        .open({ sandboxId: 'run-pull', agent: 'plain', spec: plainSpec, input: {} })
        .catch((caught: Error) => caught);
      expect(error).toBeInstanceOf(SandboxUnavailableError);
      expect((error as Error).message).toBe(
        'the sandbox task for run run-pull stopped before it was running: Task failed to start; container workspace: CannotPullContainerError: pull image manifest has been retried 5 time(s): not found',
      );
      // Same 10-minute window, so the clientToken replays the stopped task: the provider starts another.
      const sandbox = await provider.open({ sandboxId: 'run-pull', agent: 'plain', spec: plainSpec, input: {} });
      expect((await sandbox.exec({ command: 'echo up', cwd: '.', timeoutSeconds: 5 })).value.output).toBe('up\n');
      expect(runTasks()).toHaveLength(3);
      expect(new Set(runTasks().map((request) => request.body.clientToken)).size).toBe(2);
    },
  );

  it('gives up on a task that never runs, stopping it, and on an agent that never answers', async () => {
    ecs.hangNextStart();
    const pending = await fargate({
      timing: { firstPollMs: 5, maxPollMs: 20, startTimeoutMs: 1000, healthTimeoutMs: 1000 },
    })
      .open({ sandboxId: 'run-pending', agent: 'plain', spec: plainSpec, input: {} })
      .catch((caught: Error) => caught);
    expect(pending).toBeInstanceOf(SandboxUnavailableError);
    expect((pending as Error).message).toBe(
      'the sandbox task for run run-pending was not running after 1 s (still PENDING); it was stopped',
    );
    expect(stopTasks().map((request) => request.body.reason)).toEqual(['looprail: sandbox did not start in time']);

    const mute = await fargate({
      timing: { firstPollMs: 5, maxPollMs: 20, startTimeoutMs: 30_000, healthTimeoutMs: 1000 },
    })
      .open({ sandboxId: 'run-mute', agent: 'mute', spec: plainSpec, input: {} })
      .catch((caught: Error) => caught);
    expect(mute).toBeInstanceOf(SandboxUnavailableError);
    expect((mute as Error).message).toMatch(
      /^the sandbox agent of run run-mute did not answer within 1 s of its task running \(ECONNREFUSED connecting to http:\/\/127\.0\.0\.1:\d+\)$/,
    );
  });

  it.skipIf(!canRunSandboxAgent)(
    'says so when the agent refuses the broker (the task was started with another key)',
    async () => {
      const otherKey = randomBytes(32).toString('hex');
      ecs.addTask({
        family: `${PREFIX}plain`,
        startedBy: 'run-otherkey',
        createdAt: new Date(),
        start: { env: { [ENV_AGENT_TOKEN_SHA256]: tokenDigest(agentToken(otherKey, 'run-otherkey')) } },
      });
      const error = await fargate()
        .open({ sandboxId: 'run-otherkey', agent: 'plain', spec: plainSpec, input: {} })
        .catch((caught: Error) => caught);
      expect(error).toBeInstanceOf(SandboxUnavailableError);
      expect((error as Error).message).toBe(
        "the sandbox agent refused the broker's credentials for health (HTTP 401): the task was started with another signing key",
      );
    },
  );

  it('says why when ECS places no task, cannot find the task definition, or throttles', async () => {
    const provider = fargate();
    ecs.failNextRunTask([
      { reason: 'Capacity is unavailable at this time. Please try again later or in a different availability zone' },
    ]);
    const capacity = await provider
      .open({ sandboxId: 'run-capacity', agent: 'plain', spec: plainSpec, input: {} })
      .catch((caught: Error) => caught);
    expect(capacity).toBeInstanceOf(SandboxUnavailableError);
    expect((capacity as Error).message).toBe(
      `ECS could not start the sandbox for run run-capacity (task definition ${PREFIX}plain): Capacity is unavailable at this time. Please try again later or in a different availability zone (no Fargate capacity right now: worth trying again shortly)`,
    );

    const missing = await provider
      .open({ sandboxId: 'run-nofamily', agent: 'ghost', spec: plainSpec, input: {} })
      .catch((caught: Error) => caught);
    expect(missing).toBeInstanceOf(SandboxUnavailableError);
    expect((missing as Error).message).toBe(
      `ECS RunTask failed: ClientException: TaskDefinition not found: ${PREFIX}ghost`,
    );

    ecs.errorNextRunTask('ThrottlingException', 'Rate exceeded');
    const throttled = await provider
      .open({ sandboxId: 'run-throttled', agent: 'plain', spec: plainSpec, input: {} })
      .catch((caught: Error) => caught);
    expect(throttled).toBeInstanceOf(TransientError);
    expect((throttled as Error).message).toBe('ECS RunTask failed, worth retrying: ThrottlingException: Rate exceeded');
    expect(liveTasks()).toHaveLength(0);
  });

  it('refuses, before any task starts, what cannot work: a missing input value, a URL under network none, no archive, no egress proxy, no key', async () => {
    const refuse = async (provider: FargateSandboxes, spec: SandboxSpec, agent = 'plain', given: unknown = {}) => {
      const error = await provider
        .open({ sandboxId: 'run-refused', agent, spec, input: given })
        .catch((caught: Error) => caught);
      expect(error).toBeInstanceOf(SandboxUnavailableError);
      return (error as Error).message;
    };
    const provider = fargate();
    expect(await refuse(provider, coderSpec, 'coder', { other: 1 })).toBe(
      "copy_in.files: the run's input has no task for TASK.md",
    );
    expect(
      await refuse(
        provider,
        SandboxSpec.parse({ copy_in: { repository: { url: 'https://github.com/acme/calc.git' } } }),
      ),
    ).toBe(
      'copy_in.repository.url needs the sandbox to reach github.com, but its network is none: allow the host (sandbox.network: { allow: [github.com] })',
    );
    expect(
      await refuse(
        provider,
        SandboxSpec.parse({
          network: { allow: ['registry.npmjs.org'] },
          copy_in: { repository: { url: 'https://github.com/acme/calc.git' } },
        }),
      ),
    ).toBe(
      'copy_in.repository.url needs the sandbox to reach github.com, which its network allowlist (registry.npmjs.org) does not include: allow the host',
    );
    expect(await refuse(provider, coderSpec, 'plain', input)).toBe(
      'copy_in.repository.path repos/calc of agent plain has no archive deployed (LOOPRAIL_SANDBOX_REPOS_BUCKET / LOOPRAIL_SANDBOX_REPOS name none for plain): deploy the stack again',
    );
    expect(
      await refuse(
        fargate({ egressProxy: undefined }),
        SandboxSpec.parse({ network: { allow: ['registry.npmjs.org'] } }),
      ),
    ).toBe(
      'agent plain has a network allowlist, but no egress proxy is deployed (LOOPRAIL_SANDBOX_EGRESS_PROXY is unset), so it cannot be enforced; the sandbox is not started',
    );
    expect(await refuse(fargate({ signingSecret: 'no/such-key' }), plainSpec)).toBe(
      'the sandbox signing key could not be read: secret "no/such-key" not found',
    );
    expect(ecs.requests.filter((request) => request.action === 'RunTask')).toHaveLength(0);
  });

  it.skipIf(!canRunSandboxAgent)('says so when the repository archive is missing from the bucket', async () => {
    const error = await fargate({ repos: { coder: 'repos/gone.tar.gz' } })
      .open({ sandboxId: 'run-noarchive', agent: 'coder', spec: coderSpec, input })
      .catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(SandboxUnavailableError);
    expect((error as Error).message).toBe(
      `the repository archive of agent coder (s3://${BUCKET}/repos/gone.tar.gz) is not there (NoSuchKey): deploy the stack again`,
    );
  });

  it.skipIf(!canRunSandboxAgent)(
    'gives an allowlisted sandbox its egress proxy credentials, and never the agent token',
    async () => {
      const spec = SandboxSpec.parse({ network: { allow: ['registry.npmjs.org'] } });
      await fargate().open({ sandboxId: 'run-egress', agent: 'fetcher', spec, input: {} });
      const proxy = `http://fetcher~run-egress:${egressToken(key, 'fetcher', 'run-egress')}@egress.looprail.internal:3128`;
      expect(runTasks()[0]!.body.overrides.containerOverrides[0].environment).toEqual([
        { name: ENV_AGENT_TOKEN_SHA256, value: tokenDigest(agentToken(key, 'run-egress')) },
        { name: 'HTTPS_PROXY', value: proxy },
        { name: 'HTTP_PROXY', value: proxy },
        { name: 'https_proxy', value: proxy },
        { name: 'http_proxy', value: proxy },
      ]);
      expectNoSecrets(['run-egress']);
    },
  );

  it.skipIf(!canRunSandboxAgent)("reports a failed operation as a call error, with the agent's reason", async () => {
    const sandbox = await fargate().open({ sandboxId: 'run-calls', agent: 'plain', spec: plainSpec, input: {} });
    const error = await sandbox.readFile('missing.txt', 100).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(SandboxCallError);
    expect((error as Error).message).toContain('missing.txt');
    const never = await fargate()
      .handle({ op: 'diff', sandboxId: 'run-unopened', agent: 'plain', request: { maxBytes: 100 } })
      .catch((caught: Error) => caught);
    expect(never).toBeInstanceOf(SandboxUnavailableError);
  });
});

describe('RemoteSandboxes (the steps, through the broker Lambda)', () => {
  /** The same session against a provider: what each call answered, durations aside. */
  async function session(provider: SandboxProvider, sandboxId: string) {
    const sandbox: Sandbox = await provider.open({ sandboxId, agent: 'coder', spec: coderSpec, input });
    const calls: ScriptToolCall[] = [];
    const bridge = async (call: ScriptToolCall) => {
      calls.push(call);
      if (call.name === 'demo.fail') return { content: 'refused by policy', isError: true };
      return { content: `echo:${String(call.arguments.text)}`, isError: false };
    };
    const outcomes: unknown[] = [];
    // A stack trace names the workspace's folder on the host running the agent: not part of the answer compared.
    const stackless = (output: string) =>
      output
        .split('\n')
        .filter((line) => !/^\s+at /.test(line))
        .join('\n');
    const keep = <T extends { value: unknown }>(result: T) => outcomes.push(result.value);
    keep(await sandbox.listFiles('.', 2, 50));
    const failing = await sandbox.exec({ command: 'node test.js', cwd: '.', timeoutSeconds: 30 });
    outcomes.push({
      ...failing.value,
      output: stackless(failing.value.output),
      outputBytes: 'x',
      truncated: 'x',
      durationMs: 'x',
    });
    keep(await sandbox.readFile('src/sum.js', 10_000));
    keep(
      await sandbox.writeFile(
        'src/sum.js',
        (await sandbox.readFile('src/sum.js', 10_000)).value.content.replace('let total = 1;', 'let total = 0;'),
      ),
    );
    const passing = await sandbox.exec({ command: 'node test.js', cwd: '.', timeoutSeconds: 30 });
    outcomes.push({ ...passing.value, durationMs: 'x' });
    keep(await sandbox.diff(100_000));
    const script = await sandbox.runScript(
      {
        code: [
          "const texts = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((text) => tools.call('demo.echo', { text })));",
          'console.log(texts.join(","));',
          "try { await tools.call('demo.fail', {}); } catch (error) { console.log('failed:', error.content); }",
        ].join('\n'),
        cwd: '.',
        timeoutSeconds: 30,
      },
      bridge,
    );
    outcomes.push({ ...script.value, durationMs: 'x' });
    return { outcomes, calls, usedMs: sandbox.usedMs(), passing };
  }

  it.skipIf(!canRunSandboxAgent)("gives the same results as the broker's provider called directly", async () => {
    const direct = await session(fargate(), 'run-direct');
    const invocationsBefore = lambda.invocations.length;
    const remoteSession = await session(remote, 'run-remote');
    expect(JSON.stringify(remoteSession.outcomes, null, 1)).toBe(JSON.stringify(direct.outcomes, null, 1));
    expect(remoteSession.passing.value.exitCode).toBe(0);
    expect(remoteSession.passing.value.output).toContain('all tests passed');
    expect(remoteSession.outcomes.at(-1)).toMatchObject({
      exitCode: 0,
      toolCalls: 7,
      output: 'echo:a,echo:b,echo:c,echo:d,echo:e,echo:f\nfailed: refused by policy\n',
    });
    expect(remoteSession.calls.map((call) => call.name).sort()).toEqual(direct.calls.map((call) => call.name).sort());
    // Each answer's meter is kept: the sandbox has used at least what its calls took.
    expect(remoteSession.usedMs).toBeGreaterThan(0);
    // Every call was an Invoke of the broker (synchronous), and two tasks ran in all.
    expect(lambda.invocations.length - invocationsBefore).toBeGreaterThanOrEqual(8);
    expect(
      lambda.invocations.every(
        (invocation) => invocation.functionName === BROKER && invocation.invocationType === 'RequestResponse',
      ),
    ).toBe(true);
    expect(liveTasks()).toHaveLength(2);

    await remote.destroy('run-remote');
    expect(liveTasks().map((task) => task.startedBy)).toEqual(['run-direct']);
    expectNoSecrets(['run-direct', 'run-remote']);
  });

  it.skipIf(!canRunSandboxAgent)('reports a failed operation through the broker as the same call error', async () => {
    const sandbox = await remote.open({ sandboxId: 'run-remote-call', agent: 'plain', spec: plainSpec, input: {} });
    const read = await sandbox.readFile('nope.txt', 10).catch((caught: Error) => caught);
    expect(read).toBeInstanceOf(SandboxCallError);
    expect((read as Error).message).toContain('nope.txt');
    await remote.destroy('run-remote-call');
    const stopped = await sandbox
      .exec({ command: 'true', cwd: '.', timeoutSeconds: 5 })
      .catch((caught: Error) => caught);
    expect(stopped).toBeInstanceOf(SandboxUnavailableError);
    expect((stopped as Error).message).toBe(
      'run run-remote-call has no running sandbox: it was never opened, or it stopped (its idle or lifetime limit, or the run ended)',
    );
    expectNoSecrets(['run-remote-call']);
  });

  it("turns the broker's function errors back into the same typed errors", async () => {
    const unopened = await remote.destroy('run-none').then(() => 'ok');
    expect(unopened).toBe('ok');

    ecs.failNextRunTask([{ reason: 'RESOURCE:ENI' }]);
    const start = await remote
      .open({ sandboxId: 'run-remote-fail', agent: 'plain', spec: plainSpec, input: {} })
      .catch((caught: Error) => caught);
    expect(start).toBeInstanceOf(SandboxUnavailableError);
    expect((start as Error).message).toBe(
      `ECS could not start the sandbox for run run-remote-fail (task definition ${PREFIX}plain): RESOURCE:ENI (no Fargate capacity right now: worth trying again shortly)`,
    );
    expect(lambda.invocations.at(-1)!.functionError).toBe('Unhandled');

    const never = await remote
      .open({
        sandboxId: 'run-remote-fail',
        agent: 'plain',
        spec: SandboxSpec.parse({ copy_in: { repository: { url: 'https://github.com/acme/calc.git' } } }),
        input: {},
      })
      .catch((caught: Error) => caught);
    expect(never).toBeInstanceOf(SandboxUnavailableError);
    expect((never as Error).message).toMatch(/^copy_in.repository.url needs the sandbox to reach github.com/);

    const invalid = await lambdaClient.send(
      new InvokeCommand({
        FunctionName: BROKER,
        Payload: Buffer.from(JSON.stringify({ op: 'format_disk', sandboxId: 'x' })),
      }),
    );
    expect(invalid.FunctionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(invalid.Payload!).toString())).toMatchObject({
      errorType: 'looprail.ValidationError',
      errorMessage: expect.stringMatching(/^not a sandbox broker request: op: /),
    });

    const missing = new RemoteSandboxes({ functionName: 'no-such-broker', client: lambdaClient });
    const notDeployed = await missing.destroy('run-x').catch((caught: Error) => caught);
    expect(notDeployed).toBeInstanceOf(ConfigurationError);
    expect((notDeployed as Error).message).toMatch(/^the sandbox broker function "no-such-broker" does not exist/);
    expectNoSecrets(['run-remote-fail']);
  });
});

describe('the broker handler and the sweeper', () => {
  it('reads its settings from the environment the stack sets, and names a bad variable', () => {
    const options = brokerOptionsFromEnv({
      LOOPRAIL_SANDBOX_CLUSTER: CLUSTER,
      LOOPRAIL_SANDBOX_SUBNETS: 'subnet-a, subnet-b',
      LOOPRAIL_SANDBOX_SECURITY_GROUPS: 'sg-1',
      LOOPRAIL_SANDBOX_TASK_FAMILY_PREFIX: PREFIX,
      LOOPRAIL_SANDBOX_REPOS_BUCKET: BUCKET,
      LOOPRAIL_SANDBOX_REPOS: JSON.stringify({ coder: 'repos/coder.tar.gz' }),
      LOOPRAIL_LOG_LEVEL: 'silent',
    });
    expect(options).toMatchObject({
      cluster: CLUSTER,
      subnets: ['subnet-a', 'subnet-b'],
      securityGroups: ['sg-1'],
      signingSecret: SIGNING,
      repos: { coder: 'repos/coder.tar.gz' },
    });
    expect(options.egressProxy).toBeUndefined();
    expect(() =>
      brokerOptionsFromEnv({
        LOOPRAIL_SANDBOX_CLUSTER: CLUSTER,
        LOOPRAIL_SANDBOX_SUBNETS: '',
        LOOPRAIL_SANDBOX_SECURITY_GROUPS: 'sg-1',
        LOOPRAIL_SANDBOX_REPOS: '{',
      }),
    ).toThrow(
      /LOOPRAIL_SANDBOX_SUBNETS: expected at least one id \(comma-separated\); LOOPRAIL_SANDBOX_REPOS: expected JSON/,
    );
  });

  it('gives the steps a remote provider when the stack names a broker, and none otherwise', async () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, {
        LOOPRAIL_TABLE_NAME: 'looprail-test',
        LOOPRAIL_SANDBOX_BROKER: BROKER,
        AWS_ENDPOINT_URL_LAMBDA: lambda.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      });
      vi.resetModules();
      const { SANDBOX_CLIENT } = await import('../../functions/_shared/sandbox-client.ts');
      const withBroker = (await import('../../functions/_shared/runtime.ts')).lambdaDeps({ sandboxes: SANDBOX_CLIENT });
      expect(withBroker.sandboxes?.constructor.name).toBe('RemoteSandboxes');
      // Wired to the named function: a destroy is an Invoke of the broker.
      await withBroker.sandboxes!.destroy('run-wired');
      expect(lambda.invocations.map((invocation) => [invocation.functionName, invocation.payload])).toEqual([
        [BROKER, { op: 'destroy', sandboxId: 'run-wired' }],
      ]);

      delete process.env.LOOPRAIL_SANDBOX_BROKER;
      vi.resetModules();
      expect(
        (await import('../../functions/_shared/runtime.ts')).lambdaDeps({ sandboxes: SANDBOX_CLIENT }).sandboxes,
      ).toBeUndefined();
    } finally {
      process.env = saved;
      vi.resetModules();
    }
  });

  it('stops the tasks of ended and missing runs and those past the cap, and leaves the rest alone', async () => {
    const hour = 3_600_000;
    const now = Date.now();
    const tagged = (id: string) => [
      { key: 'looprail:sandbox', value: id },
      { key: 'looprail:agent', value: 'coder' },
    ];
    const make = (id: string, ageMs: number, lastStatus = 'RUNNING') =>
      ecs.addTask({
        family: `${PREFIX}coder`,
        startedBy: id,
        tags: tagged(id),
        createdAt: new Date(now - ageMs),
        lastStatus,
      });
    const live = make('run-live', hour);
    const finished = make('run-done', hour);
    const failed = make('run-crashed', 2 * hour);
    const gone = make('run-gone', hour);
    const fresh = make('run-fresh', 60_000);
    const ancient = make('run-ancient', 30 * hour);
    const stopped = make('run-old-stopped', hour, 'STOPPED');
    const foreign = ecs.addTask({
      family: 'someone-else',
      startedBy: 'run-done',
      createdAt: new Date(now - 50 * hour),
      lastStatus: 'RUNNING',
    });
    const statuses: Record<string, string> = {
      'run-live': 'running',
      'run-done': 'finished',
      'run-crashed': 'failed',
      'run-ancient': 'paused',
      'run-fresh': 'running',
    };
    const outcome = await sweepSandboxes({
      ecs: ecsClient,
      cluster: CLUSTER,
      runs: { getRun: async (runId) => (statuses[runId] ? ({ runId, status: statuses[runId] } as never) : undefined) },
      policy: { maxAgeMs: 24 * hour, graceMs: 10 * 60_000 },
      clock: { now: () => new Date(now) },
      log,
    });
    expect(outcome.checked).toBe(6);
    expect(outcome.failed).toBe(0);
    expect(new Set(outcome.stopped.map((each) => each.taskArn))).toEqual(
      new Set([finished.taskArn, failed.taskArn, gone.taskArn, ancient.taskArn]),
    );
    for (const task of [finished, failed, gone, ancient]) expect(task.desiredStatus).toBe('STOPPED');
    for (const task of [live, fresh, foreign]) expect(task.desiredStatus).toBe('RUNNING');
    expect(stopped.stoppedReason).toBeUndefined();
    expect(
      stopTasks()
        .map((request) => request.body.reason)
        .sort(),
    ).toEqual([
      'looprail sweeper: older than 24 h (the sandbox hard cap)',
      'looprail sweeper: run run-crashed is failed',
      'looprail sweeper: run run-done is finished',
      'looprail sweeper: run run-gone does not exist',
    ]);
  });
});
