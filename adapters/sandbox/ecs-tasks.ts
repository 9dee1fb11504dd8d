import {
  DescribeTasksCommand,
  ListTasksCommand,
  StopTaskCommand,
  type ECSClient,
  type RunTaskCommandInput,
  type Task,
} from '@aws-sdk/client-ecs';
import { errorMessage, SandboxUnavailableError, TransientError } from '../../core/errors.ts';
import { WORKSPACE_CONTAINER } from './aws-contract.ts';

/**
 * Sandbox tasks as ECS shows them, shared by the broker (fargate.ts, fargate-tasks.ts)
 * and the sweeper (functions/sandbox/sweeper.ts): how a sandbox task is tagged, when one
 * counts as stopped, how ECS's errors map to core errors.
 */

/** RunTask tags every sandbox task with its sandbox (the maker run's id) and agent. */
export const TAG_SANDBOX = 'looprail:sandbox';
export const TAG_AGENT = 'looprail:agent';

/** Every sandbox task in the cluster that is not stopping: its id (startedBy), ARN and age. */
export async function listSandboxTasks(
  ecs: ECSClient,
  cluster: string,
): Promise<Array<{ taskArn: string; sandboxId: string; createdAt: Date }>> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs
      .send(new ListTasksCommand({ cluster, desiredStatus: 'RUNNING', nextToken }))
      .catch((error) => Promise.reject(ecsError('ListTasks', error)));
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const tasks: Array<{ taskArn: string; sandboxId: string; createdAt: Date }> = [];
  // DescribeTasks takes at most 100 tasks a call.
  for (let i = 0; i < arns.length; i += 100) {
    const page = await ecs
      .send(new DescribeTasksCommand({ cluster, tasks: arns.slice(i, i + 100), include: ['TAGS'] }))
      .catch((error) => Promise.reject(ecsError('DescribeTasks', error)));
    for (const task of page.tasks ?? []) {
      const tagged = task.tags?.find((tag) => tag.key === TAG_SANDBOX)?.value;
      // Only looprail's sandboxes: a task that is not tagged as one is someone else's.
      if (!task.taskArn || !tagged || task.startedBy !== tagged || isStopped(task)) continue;
      tasks.push({ taskArn: task.taskArn, sandboxId: tagged, createdAt: task.createdAt ?? new Date(0) });
    }
  }
  return tasks;
}

/** RunTask for one sandbox: its agent's task definition, no public IP, the workspace container's environment, tagged. */
export function sandboxRunTask(task: {
  cluster: string;
  subnets: string[];
  securityGroups: string[];
  family: string;
  sandboxId: string;
  agent: string;
  clientToken: string;
  environment: Record<string, string>;
}): RunTaskCommandInput {
  const environment = Object.entries(task.environment).map(([name, value]) => ({ name, value }));
  return {
    cluster: task.cluster,
    taskDefinition: task.family,
    launchType: 'FARGATE',
    count: 1,
    startedBy: task.sandboxId,
    clientToken: task.clientToken,
    networkConfiguration: {
      awsvpcConfiguration: { subnets: task.subnets, securityGroups: task.securityGroups, assignPublicIp: 'DISABLED' },
    },
    overrides: { containerOverrides: [{ name: WORKSPACE_CONTAINER, environment }] },
    tags: [
      { key: TAG_SANDBOX, value: task.sandboxId },
      { key: TAG_AGENT, value: task.agent },
    ],
  };
}

export async function stopSandboxTask(ecs: ECSClient, cluster: string, taskArn: string, reason: string): Promise<void> {
  await ecs
    .send(new StopTaskCommand({ cluster, task: taskArn, reason: reason.slice(0, 255) }))
    .catch((error) => Promise.reject(ecsError('StopTask', error)));
}

export function isStopped(task: Task): boolean {
  return (
    task.desiredStatus === 'STOPPED' ||
    task.lastStatus === 'STOPPED' ||
    task.lastStatus === 'DEPROVISIONING' ||
    task.lastStatus === 'STOPPING' ||
    task.lastStatus === 'DEACTIVATING'
  );
}

const TRANSIENT_ECS = new Set([
  'ThrottlingException',
  'ServerException',
  'ServiceUnavailableException',
  'TimeoutError',
]);

export function ecsError(action: string, error: unknown): Error {
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  const detail = `${name}: ${errorMessage(error)}`;
  if (TRANSIENT_ECS.has(name) || status === undefined || status >= 500)
    return new TransientError(`ECS ${action} failed, worth retrying: ${detail}`);
  return new SandboxUnavailableError(`ECS ${action} failed: ${detail}`);
}

export function oldestFirst(tasks: Task[]): Task[] {
  return [...tasks].sort(
    (a, b) =>
      (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0) || (a.taskArn ?? '').localeCompare(b.taskArn ?? ''),
  );
}

/** Why ECS stopped a task, with each container's reason or exit code. */
export function stoppedWhy(task: Task): string {
  const parts = [task.stoppedReason ?? task.stopCode ?? 'no reason given'];
  for (const container of task.containers ?? []) {
    if (container.reason) parts.push(`container ${container.name}: ${container.reason}`);
    else if (container.exitCode !== undefined && container.exitCode !== 0)
      parts.push(`container ${container.name} exited with ${container.exitCode}`);
  }
  return parts.join('; ');
}
