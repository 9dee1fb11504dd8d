import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { SandboxUnavailableError } from '../../core/errors.ts';
import type { Clock } from '../../core/ports/clock.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { ecsError, isStopped, oldestFirst, sandboxRunTask, stoppedWhy } from './ecs-tasks.ts';

/**
 * The broker's ECS side of its sandboxes (fargate.ts): start a sandbox's task once however
 * many brokers ask (RunTask's clientToken, then the oldest task kept), find its tasks again
 * by `startedBy`, wait until one runs, stop them. ecs-tasks.ts holds what the sweeper shares.
 */

export interface SandboxTasksOptions {
  cluster: string;
  subnets: string[];
  securityGroups: string[];
  /** An agent's task definition family is this plus the agent's name. */
  taskFamilyPrefix: string;
  ecs?: ECSClient;
  clock: Clock;
  log: Logger;
  timing: {
    /** From RunTask to RUNNING (an image pull included). */
    startTimeoutMs: number;
    /** Polls start this far apart and back off to maxPollMs. */
    firstPollMs: number;
    maxPollMs: number;
  };
}

/** RunTask's clientToken covers this window: concurrent first calls in it start one task. */
const TOKEN_BUCKET_MS = 10 * 60_000;

export class SandboxTasks {
  readonly #options: SandboxTasksOptions;
  #ecs: ECSClient | undefined;

  constructor(options: SandboxTasksOptions) {
    this.#options = options;
    this.#ecs = options.ecs;
  }

  /** The sandbox's running task: the oldest live one, or one started with this environment. Duplicates are stopped. */
  async startOrFind(sandbox: { sandboxId: string; agent: string }, environment: Record<string, string>): Promise<Task> {
    let tasks = await this.live(sandbox.sandboxId);
    if (tasks.length === 0) {
      const started = await this.#runTask(sandbox, environment);
      // Another broker may have started one too (past the clientToken's window): all keep the oldest.
      tasks = await this.live(sandbox.sandboxId);
      // Not listed: it already stopped (waiting on it says why), or the listing lags behind.
      if (tasks.length === 0) tasks = [started];
    }
    const [keep, ...extra] = oldestFirst(tasks);
    for (const task of extra) {
      this.#options.log.warn('stopping a duplicate sandbox task', {
        sandboxId: sandbox.sandboxId,
        taskArn: task.taskArn,
      });
      await this.stop(task.taskArn!, 'looprail: duplicate sandbox task');
    }
    return this.#waitRunning(sandbox.sandboxId, keep!);
  }

  /** The sandbox's tasks that are not stopping or stopped. */
  async live(sandboxId: string): Promise<Task[]> {
    // startedBy must be ListTasks' only filter; the default desiredStatus (RUNNING) covers tasks still starting.
    const listed = await this.#ecsCall('ListTasks', () =>
      this.#ecsClient().send(new ListTasksCommand({ cluster: this.#options.cluster, startedBy: sandboxId })),
    );
    const arns = listed.taskArns ?? [];
    if (arns.length === 0) return [];
    return (await this.#describe(arns)).filter((task) => task.startedBy === sandboxId && !isStopped(task));
  }

  async stop(taskArn: string, reason: string): Promise<void> {
    await this.#ecsCall('StopTask', () =>
      this.#ecsClient().send(new StopTaskCommand({ cluster: this.#options.cluster, task: taskArn, reason })),
    );
  }

  async #runTask(sandbox: { sandboxId: string; agent: string }, environment: Record<string, string>): Promise<Task> {
    const family = this.#options.taskFamilyPrefix + sandbox.agent;
    let replaced: string | undefined;
    // A clientToken replays its first task, even a stopped one: then one more start, keyed by the stopped task.
    for (let attempt = 0; attempt < 2; attempt++) {
      const input = sandboxRunTask({
        cluster: this.#options.cluster,
        subnets: this.#options.subnets,
        securityGroups: this.#options.securityGroups,
        family,
        sandboxId: sandbox.sandboxId,
        agent: sandbox.agent,
        clientToken: this.#clientToken(sandbox.sandboxId, replaced),
        environment,
      });
      const output = await this.#ecsCall('RunTask', () => this.#ecsClient().send(new RunTaskCommand(input)));
      const task = output.tasks?.[0];
      if (!task?.taskArn) {
        const reasons = (output.failures ?? [])
          .map((failure) => [failure.reason, failure.detail].filter(Boolean).join(': '))
          .filter(Boolean);
        const capacity = reasons.some((reason) => /capacity|RESOURCE:/i.test(reason));
        throw new SandboxUnavailableError(
          `ECS could not start the sandbox for run ${sandbox.sandboxId} (task definition ${family}): ${reasons.join('; ') || 'no task and no reason given'}${capacity ? ' (no Fargate capacity right now: worth trying again shortly)' : ''}`,
        );
      }
      if (!isStopped(task)) {
        this.#options.log.info('sandbox task started', {
          sandboxId: sandbox.sandboxId,
          agent: sandbox.agent,
          taskArn: task.taskArn,
        });
        return task;
      }
      replaced = task.taskArn;
    }
    throw new SandboxUnavailableError(
      `ECS keeps answering with a stopped task for run ${sandbox.sandboxId}; try again in a few minutes`,
    );
  }

  /** ≤ 64 characters: the sandbox, the 10-minute window, and the stopped task it replaces (if any). */
  #clientToken(sandboxId: string, replaced: string | undefined): string {
    const bucket = Math.floor(this.#options.clock.now().getTime() / TOKEN_BUCKET_MS);
    return createHash('sha256')
      .update(`${sandboxId}\u0000${bucket}\u0000${replaced ?? ''}`)
      .digest('hex');
  }

  async #waitRunning(sandboxId: string, first: Task): Promise<Task> {
    const timing = this.#options.timing;
    const deadline = performance.now() + timing.startTimeoutMs;
    let delay = timing.firstPollMs;
    let task = first;
    for (;;) {
      if (isStopped(task))
        throw new SandboxUnavailableError(
          `the sandbox task for run ${sandboxId} stopped before it was running: ${stoppedWhy(task)}`,
        );
      if (task.lastStatus === 'RUNNING') return task;
      if (performance.now() >= deadline) {
        await this.stop(task.taskArn!, 'looprail: sandbox did not start in time').catch(() => undefined);
        throw new SandboxUnavailableError(
          `the sandbox task for run ${sandboxId} was not running after ${Math.round(timing.startTimeoutMs / 1000)} s (still ${task.lastStatus ?? 'unknown'}); it was stopped`,
        );
      }
      await sleep(delay);
      delay = Math.min(delay * 2, timing.maxPollMs);
      const [again] = await this.#describe([task.taskArn!]);
      if (!again)
        throw new SandboxUnavailableError(
          `the sandbox task for run ${sandboxId} disappeared while starting (${task.taskArn})`,
        );
      task = again;
    }
  }

  async #describe(arns: string[]): Promise<Task[]> {
    const output = await this.#ecsCall('DescribeTasks', () =>
      this.#ecsClient().send(new DescribeTasksCommand({ cluster: this.#options.cluster, tasks: arns })),
    );
    return output.tasks ?? [];
  }

  #ecsClient(): ECSClient {
    this.#ecs ??= new ECSClient({});
    return this.#ecs;
  }

  async #ecsCall<T>(action: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw ecsError(action, error);
    }
  }
}
