import { randomBytes } from 'node:crypto';
import type { BoxAccount } from '../model.ts';
import {
  arn,
  type BoxService,
  type CallContext,
  jsonBody,
  ServiceError,
  type ServiceResponse,
  targetOperation,
} from './wire.ts';

/**
 * ECS (awsJson 1.1, `AmazonEC2ContainerServiceV20141113.*`): RunTask on the task definition
 * (with `ecs:cluster`), plus ecs:TagResource (`ecs:CreateAction=RunTask`) when it tags and
 * iam:PassRole on the task's roles (`iam:PassedToService=ecs-tasks.amazonaws.com`); ListTasks,
 * DescribeTasks and StopTask with `ecs:cluster`. Passed calls are forwarded to the ECS control
 * plane the box runs (test/support/fake-ecs.ts).
 */

export interface EcsTaskDefinition {
  family: string;
  revision?: number;
  taskRoleArn?: string;
  executionRoleArn?: string;
}

export interface EcsGatewayOptions {
  /** URL of the ECS control plane the passed calls go to (startFakeEcs().url). */
  url: string;
  /** The cluster's ARN (a call naming the cluster by name is authorized with this ARN). */
  clusterArn: string;
  taskDefinitions: EcsTaskDefinition[];
}

const PREFIX = 'AmazonEC2ContainerServiceV20141113';

export function ecsService(options: EcsGatewayOptions | undefined): BoxService {
  return {
    name: 'ecs',
    signingName: 'ecs',
    protocol: 'awsJson1_1',
    operation: (request) => targetOperation(request, PREFIX),
    async handle(operation: string, call: CallContext): Promise<ServiceResponse> {
      if (!options) throw new ServiceError('UnknownOperationException', 'the box has no ECS control plane');
      const body = jsonBody(call.request);
      const clusterName = options.clusterArn.split('/').pop()!;
      const context = { 'ecs:cluster': options.clusterArn };
      const taskArn = (ref: string) =>
        ref.startsWith('arn:') ? ref : arn(call.account, 'ecs', `task/${clusterName}/${ref}`);
      if (operation === 'RunTask') await authorizeRunTask(call, options, body);
      else if (operation === 'ListTasks') await call.authorize('ecs:ListTasks', ['*'], context);
      else if (operation === 'DescribeTasks') {
        await call.authorize('ecs:DescribeTasks', ((body.tasks ?? []) as string[]).map(taskArn), context);
      } else if (operation === 'StopTask') await call.authorize('ecs:StopTask', [taskArn(String(body.task))], context);
      else throw new ServiceError('UnknownOperationException', `the box does not serve ecs ${operation}`);
      const answer = await fetch(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `${PREFIX}.${operation}`,
          authorization: String(call.request.headers.authorization ?? ''),
        },
        body: call.request.body,
      });
      const type = answer.headers.get('content-type') ?? 'application/x-amz-json-1.1';
      return {
        status: answer.status,
        headers: { 'content-type': type },
        body: Buffer.from(await answer.arrayBuffer()),
      };
    },
  };
}

async function authorizeRunTask(call: CallContext, options: EcsGatewayOptions, body: Record<string, any>) {
  const definition = taskDefinitionArn(call.account, options, String(body.taskDefinition ?? ''));
  await call.authorize('ecs:RunTask', [definition.arn], { 'ecs:cluster': options.clusterArn });
  if ((body.tags ?? []).length > 0) {
    const newTask = arn(
      call.account,
      'ecs',
      `task/${options.clusterArn.split('/').pop()}/${randomBytes(16).toString('hex')}`,
    );
    await call.authorize('ecs:TagResource', [newTask], { 'ecs:CreateAction': 'RunTask' });
  }
  const roles = [
    body.overrides?.taskRoleArn ?? definition.taskRoleArn,
    body.overrides?.executionRoleArn ?? definition.executionRoleArn,
  ].filter((each): each is string => Boolean(each));
  for (const role of roles) {
    await call.authorize('iam:PassRole', [role], { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' });
  }
}

function taskDefinitionArn(
  account: BoxAccount,
  options: EcsGatewayOptions,
  reference: string,
): EcsTaskDefinition & { arn: string } {
  const familyAndRevision = reference.startsWith('arn:') ? reference.split('/').pop()! : reference;
  const [family, revision] = familyAndRevision.split(':');
  const known = options.taskDefinitions.find((each) => each.family === family);
  if (!known) throw new ServiceError('ClientException', `TaskDefinition not found: ${reference}`);
  const rev = revision ?? String(known.revision ?? 1);
  return { ...known, arn: arn(account, 'ecs', `task-definition/${family}:${rev}`) };
}
