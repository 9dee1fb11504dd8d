import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the ECS control plane on 127.0.0.1, speaking its JSON 1.1 wire format
 * (`X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Action>`) to the real SDK client:
 * RunTask (with clientToken idempotency), ListTasks, DescribeTasks, StopTask. A task
 * "runs" by starting whatever `startTask` starts (the tests: a real sandbox agent on
 * 127.0.0.1); it then reports RUNNING with the ENI's private IP 127.0.0.1, and
 * `portOf(taskArn)` says where its agent listens. Every request is recorded.
 */

export interface FakeTaskStart {
  taskArn: string;
  sandboxId: string | undefined;
  family: string;
  /** The workspace container's environment overrides. */
  env: Record<string, string>;
}

export interface StartedTask {
  port: number;
  /** The task's private IP, where its agent listens (default 127.0.0.1; the stack in a box gives each task its own). */
  address?: string;
  stop(): Promise<void>;
}

export interface FakeEcsOptions {
  cluster: string;
  /** Task definition families that exist. */
  families: string[];
  /** Starts what a task runs. Default: nothing (port 1). */
  startTask?: (task: FakeTaskStart) => Promise<StartedTask>;
  /** DescribeTasks answers PENDING this many times before RUNNING (the provider polls). Default 1. */
  pendingPolls?: number;
}

export interface RecordedEcsRequest {
  action: string;
  body: any;
  raw: string;
  authorization: string | undefined;
}

export interface FakeTask {
  taskArn: string;
  family: string;
  startedBy?: string;
  clientToken?: string;
  createdAt: Date;
  lastStatus: string;
  desiredStatus: string;
  stoppedReason?: string;
  stopCode?: string;
  containerReason?: string;
  tags: Array<{ key: string; value: string }>;
  env: Record<string, string>;
  pendingPolls: number;
  started?: Promise<StartedTask | undefined>;
  /** The next describe reports it stopped before it ran (an image that cannot be pulled). */
  failStart?: { stoppedReason: string; containerReason: string };
}

export interface FakeEcs {
  readonly url: string;
  readonly requests: RecordedEcsRequest[];
  readonly tasks: Map<string, FakeTask>;
  /** The next RunTask places nothing and answers these failures. */
  failNextRunTask(failures: Array<{ reason: string; detail?: string }>): void;
  /** The next task started stops before RUNNING with this reason. */
  failNextStart(stoppedReason: string, containerReason: string): void;
  /** The next task started never leaves PENDING (no capacity, an endless image pull). */
  hangNextStart(): void;
  /** The next RunTask answers this error. */
  errorNextRunTask(type: string, message: string, status?: number): void;
  /** Where a task's agent listens (its "ENI" is 127.0.0.1). */
  portOf(taskArn: string): number;
  /** Adds a task as if someone else had started it; `start` runs what RunTask would, with this environment. */
  addTask(task: Partial<FakeTask> & { createdAt: Date; start?: { env: Record<string, string> } }): FakeTask;
  reset(): Promise<void>;
  close(): Promise<void>;
}

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const PREFIX = 'AmazonEC2ContainerServiceV20141113.';

export async function startFakeEcs(options: FakeEcsOptions): Promise<FakeEcs> {
  const requests: RecordedEcsRequest[] = [];
  const tasks = new Map<string, FakeTask>();
  const ports = new Map<string, number>();
  const addresses = new Map<string, string>();
  const tokens = new Map<string, string>();
  let nextFailures: Array<{ reason: string; detail?: string }> | undefined;
  let nextStartFailure: FakeTask['failStart'];
  let nextHang = false;
  let nextError: { type: string; message: string; status: number } | undefined;
  let seq = 0;
  const base = Date.now();
  const clusterName = options.cluster.split('/').pop()!;
  const clusterArn = options.cluster.startsWith('arn:')
    ? options.cluster
    : `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${options.cluster}`;

  const matchesCluster = (cluster: string | undefined) =>
    cluster === undefined || cluster === clusterArn || cluster === clusterName || cluster === options.cluster;
  const findTask = (ref: string) =>
    tasks.get(ref) ?? [...tasks.values()].find((task) => task.taskArn.endsWith(`/${ref}`));

  const describe = (task: FakeTask, withTags: boolean) => ({
    taskArn: task.taskArn,
    clusterArn,
    taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${task.family}:1`,
    ...(task.startedBy ? { startedBy: task.startedBy } : {}),
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    launchType: 'FARGATE',
    createdAt: task.createdAt.getTime() / 1000,
    ...(task.stoppedReason ? { stoppedReason: task.stoppedReason, stopCode: task.stopCode ?? 'UserInitiated' } : {}),
    attachments:
      task.lastStatus === 'RUNNING'
        ? [
            {
              id: `eni-attachment-${task.taskArn.slice(-8)}`,
              type: 'ElasticNetworkInterface',
              status: 'ATTACHED',
              details: [
                { name: 'subnetId', value: 'subnet-fake' },
                { name: 'networkInterfaceId', value: 'eni-fake' },
                { name: 'privateIPv4Address', value: addresses.get(task.taskArn) ?? '127.0.0.1' },
              ],
            },
          ]
        : [],
    containers: [
      {
        name: 'workspace',
        lastStatus: task.lastStatus,
        ...(task.containerReason ? { reason: task.containerReason } : {}),
      },
    ],
    ...(withTags ? { tags: task.tags } : {}),
  });

  const stopTask = async (task: FakeTask, reason: string, code = 'UserInitiated') => {
    if (task.lastStatus !== 'STOPPED') {
      task.lastStatus = 'STOPPED';
      task.desiredStatus = 'STOPPED';
      task.stoppedReason = reason;
      task.stopCode = code;
    }
    const started = await task.started?.catch(() => undefined);
    task.started = undefined;
    await started?.stop();
  };

  /** What DescribeTasks sees: a task moves on from PROVISIONING only when looked at. */
  const advance = async (task: FakeTask) => {
    if (task.lastStatus === 'STOPPED' || task.lastStatus === 'RUNNING') return;
    if (task.failStart) {
      task.containerReason = task.failStart.containerReason;
      await stopTask(task, task.failStart.stoppedReason, 'TaskFailedToStart');
      return;
    }
    if (task.pendingPolls > 0) {
      task.pendingPolls -= 1;
      task.lastStatus = 'PENDING';
      return;
    }
    const started = await task.started;
    if (started) ports.set(task.taskArn, started.port);
    if (started?.address) addresses.set(task.taskArn, started.address);
    task.lastStatus = 'RUNNING';
  };

  const actions: Record<string, (body: any) => Promise<unknown>> = {
    async RunTask(body) {
      if (!matchesCluster(body.cluster)) throw new EcsError('ClusterNotFoundException', 'Cluster not found.');
      const family = String(body.taskDefinition ?? '').split(':')[0]!;
      if (!options.families.includes(family))
        throw new EcsError('ClientException', `TaskDefinition not found: ${body.taskDefinition}`);
      if (body.clientToken !== undefined && String(body.clientToken).length > 64)
        throw new EcsError('InvalidParameterException', 'clientToken is longer than 64 characters');
      if (body.clientToken && tokens.has(body.clientToken)) {
        const task = tasks.get(tokens.get(body.clientToken)!)!;
        return { tasks: [describe(task, false)], failures: [] };
      }
      if (nextFailures) {
        const failures = nextFailures;
        nextFailures = undefined;
        return {
          tasks: [],
          failures: failures.map((failure) => ({
            arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/fake`,
            ...failure,
          })),
        };
      }
      const override = (body.overrides?.containerOverrides ?? []).find(
        (each: { name: string }) => each.name === 'workspace',
      );
      const env = Object.fromEntries(
        (override?.environment ?? []).map((pair: { name: string; value: string }) => [pair.name, pair.value]),
      );
      const task = addTask({
        family,
        startedBy: body.startedBy,
        clientToken: body.clientToken,
        createdAt: new Date(base + ++seq * 1000),
        tags: body.tags ?? [],
        env,
      });
      if (nextStartFailure) {
        task.failStart = nextStartFailure;
        nextStartFailure = undefined;
      } else if (nextHang) {
        task.pendingPolls = Number.POSITIVE_INFINITY;
        nextHang = false;
      } else if (options.startTask) {
        task.started = options.startTask({ taskArn: task.taskArn, sandboxId: body.startedBy, family, env });
        task.started.catch(() => undefined);
      }
      if (body.clientToken) tokens.set(body.clientToken, task.taskArn);
      return { tasks: [describe(task, false)], failures: [] };
    },
    async ListTasks(body) {
      if (!matchesCluster(body.cluster)) throw new EcsError('ClusterNotFoundException', 'Cluster not found.');
      // As ECS documents it: "When you specify startedBy as the filter, it must be the only filter that you use."
      if (
        body.startedBy !== undefined &&
        ['family', 'containerInstance', 'serviceName', 'desiredStatus', 'launchType'].some(
          (filter) => body[filter] !== undefined,
        )
      ) {
        throw new EcsError('InvalidParameterException', 'startedBy must be the only filter when it is used');
      }
      const wanted = body.desiredStatus ?? 'RUNNING';
      const arns = [...tasks.values()]
        .filter(
          (task) =>
            task.desiredStatus === wanted &&
            (body.startedBy === undefined || task.startedBy === body.startedBy) &&
            (body.family === undefined || task.family === body.family),
        )
        .map((task) => task.taskArn);
      const start = body.nextToken ? Number(body.nextToken) : 0;
      const size = body.maxResults ?? 100;
      const page = arns.slice(start, start + size);
      return { taskArns: page, ...(start + size < arns.length ? { nextToken: String(start + size) } : {}) };
    },
    async DescribeTasks(body) {
      if (!matchesCluster(body.cluster)) throw new EcsError('ClusterNotFoundException', 'Cluster not found.');
      if (!Array.isArray(body.tasks) || body.tasks.length === 0 || body.tasks.length > 100)
        throw new EcsError('InvalidParameterException', 'tasks must name 1 to 100 tasks');
      const found: unknown[] = [];
      const failures: unknown[] = [];
      for (const ref of body.tasks as string[]) {
        const task = findTask(ref);
        if (!task) {
          failures.push({ arn: ref, reason: 'MISSING' });
          continue;
        }
        await advance(task);
        found.push(describe(task, (body.include ?? []).includes('TAGS')));
      }
      return { tasks: found, failures };
    },
    async StopTask(body) {
      if (!matchesCluster(body.cluster)) throw new EcsError('ClusterNotFoundException', 'Cluster not found.');
      const task = findTask(body.task);
      if (!task) throw new EcsError('InvalidParameterException', 'The referenced task was not found.');
      await stopTask(task, body.reason ?? 'Task stopped by user');
      return { task: describe(task, false) };
    },
  };

  function addTask(partial: Partial<FakeTask> & { createdAt: Date }): FakeTask {
    const taskArn = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${clusterName}/${randomBytes(16).toString('hex')}`;
    const task: FakeTask = {
      taskArn,
      family: partial.family ?? 'other',
      startedBy: partial.startedBy,
      clientToken: partial.clientToken,
      createdAt: partial.createdAt,
      lastStatus: partial.lastStatus ?? 'PROVISIONING',
      desiredStatus: partial.desiredStatus ?? (partial.lastStatus === 'STOPPED' ? 'STOPPED' : 'RUNNING'),
      tags: partial.tags ?? [],
      env: partial.env ?? {},
      pendingPolls: options.pendingPolls ?? 1,
    };
    tasks.set(taskArn, task);
    return task;
  }

  const server: Server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const target = String(req.headers['x-amz-target'] ?? '');
    const action = target.startsWith(PREFIX) ? target.slice(PREFIX.length) : target;
    const reply = (status: number, payload: unknown) =>
      res
        .writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': randomBytes(8).toString('hex'),
        })
        .end(JSON.stringify(payload));
    let body: any;
    try {
      body = JSON.parse(raw || '{}');
    } catch {
      return reply(400, { __type: 'SerializationException', message: 'not JSON' });
    }
    requests.push({ action, body, raw, authorization: req.headers.authorization });
    const handler = Object.hasOwn(actions, action) ? actions[action] : undefined;
    if (!handler) return reply(400, { __type: 'UnknownOperationException', message: `unknown operation ${target}` });
    if (action === 'RunTask' && nextError) {
      const error = nextError;
      nextError = undefined;
      return reply(error.status, { __type: error.type, message: error.message });
    }
    try {
      reply(200, await handler(body));
    } catch (error) {
      if (error instanceof EcsError) return reply(400, { __type: error.type, message: error.message });
      reply(500, { __type: 'ServerException', message: (error as Error).message });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    tasks,
    failNextRunTask(failures) {
      nextFailures = failures;
    },
    failNextStart(stoppedReason, containerReason) {
      nextStartFailure = { stoppedReason, containerReason };
    },
    hangNextStart() {
      nextHang = true;
    },
    errorNextRunTask(type, message, status = 400) {
      nextError = { type, message, status };
    },
    portOf(taskArn) {
      return ports.get(taskArn) ?? 1;
    },
    addTask(partial) {
      const task = addTask(partial);
      if (partial.start && options.startTask) {
        task.env = partial.start.env;
        task.started = options.startTask({
          taskArn: task.taskArn,
          sandboxId: task.startedBy,
          family: task.family,
          env: partial.start.env,
        });
        task.started.catch(() => undefined);
      }
      return task;
    },
    async reset() {
      for (const task of tasks.values()) await stopTask(task, 'test reset');
      tasks.clear();
      tokens.clear();
      ports.clear();
      addresses.clear();
      requests.length = 0;
      nextFailures = undefined;
      nextStartFailure = undefined;
      nextHang = false;
      nextError = undefined;
    },
    async close() {
      for (const task of tasks.values()) await stopTask(task, 'test end');
      server.closeAllConnections();
      server.close();
    },
  };
}

class EcsError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.type = type;
  }
}
