import { DescribeTasksCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeEcs, startFakeEcs } from '../support/fake-ecs.ts';
import type { AwsGateway } from './aws-gateway.ts';
import { CLUSTER, clientConfig, ROLES, role, testGateway } from './gateway-fixture.ts';
import type { IamAuthority } from './iam.ts';

let iam: IamAuthority;
let gateway: AwsGateway;
let ecs: FakeEcs;

beforeAll(async () => {
  ecs = await startFakeEcs({ cluster: 'sandboxes', families: ['sandbox', 'privileged'] });
  ({ iam, gateway } = await testGateway({
    ecs: {
      url: ecs.url,
      clusterArn: CLUSTER,
      taskDefinitions: [
        { family: 'sandbox', executionRoleArn: role('BoxTest-SandboxExecutionRole') },
        {
          family: 'privileged',
          executionRoleArn: role('BoxTest-SandboxExecutionRole'),
          taskRoleArn: ROLES.agentRole.arn,
        },
      ],
    },
  }));
});

afterAll(async () => {
  await gateway.close();
  await ecs.close();
});

describe('ECS behind the gateway', () => {
  it('runs a tagged task with RunTask, TagResource and PassRole to ECS tasks, then forwards to the control plane', async () => {
    const client = new ECSClient(clientConfig(gateway, iam.credentialsFor(ROLES.brokerRole.arn, 'broker')));
    const run = await client.send(
      new RunTaskCommand({
        cluster: 'sandboxes',
        taskDefinition: 'sandbox',
        startedBy: 'sbx-1',
        tags: [{ key: 'looprail:sandbox', value: 'sbx-1' }],
      }),
    );
    const taskArn = run.tasks?.[0]?.taskArn ?? '';
    expect(ecs.requests.map((each) => each.action)).toEqual(['RunTask']);
    const described = await client.send(
      new DescribeTasksCommand({ cluster: 'sandboxes', tasks: [taskArn.split('/').pop()!] }),
    );
    expect(described.tasks).toHaveLength(1);
    expect(gateway.calls.filter((call) => call.service === 'ecs').map((call) => [call.action, call.allowed])).toEqual([
      ['RunTask', true],
      ['DescribeTasks', true],
    ]);
  });

  it('refuses a task definition whose task role the broker may not pass, naming iam:PassRole and the role', async () => {
    const client = new ECSClient(clientConfig(gateway, iam.credentialsFor(ROLES.brokerRole.arn, 'broker')));
    await expect(
      client.send(new RunTaskCommand({ cluster: 'sandboxes', taskDefinition: 'privileged:1' })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(iam.denials.at(-1)).toMatchObject({
      action: 'ecs:RunTask',
      resource: expect.stringMatching(/task-definition\/privileged:1$/),
    });
    expect(ecs.requests.map((each) => each.action)).toEqual(['RunTask', 'DescribeTasks']);
  });

  it('refuses a task role passed in overrides', async () => {
    const client = new ECSClient(clientConfig(gateway, iam.credentialsFor(ROLES.brokerRole.arn, 'broker')));
    await expect(
      client.send(
        new RunTaskCommand({
          cluster: 'sandboxes',
          taskDefinition: 'sandbox',
          overrides: { taskRoleArn: ROLES.agentRole.arn },
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(iam.denials.at(-1)).toMatchObject({ action: 'iam:PassRole', resource: ROLES.agentRole.arn });
  });
});
