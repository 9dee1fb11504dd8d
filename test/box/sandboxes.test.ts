import { DescribeTasksCommand, ECSClient, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_AGENT_TOKEN_SHA256 } from '../../adapters/sandbox/aws-contract.ts';
import { AGENT_PORT } from '../../adapters/sandbox/protocol.ts';
import { canRunSandboxAgent } from '../support/sandbox-agent.ts';
import type { AwsGateway } from './aws-gateway.ts';
import { ACCOUNT, clientConfig, ROLES, role, testGateway } from './gateway-fixture.ts';
import type { IamAuthority } from './iam.ts';
import { type BoxEcs, ecsOptionsOf, startBoxEcs } from './sandboxes.ts';
import { BoxTemplate } from './template.ts';

/**
 * The sandboxes' ECS in the box, from a template's cluster and task definitions: RunTask through
 * the gateway starts a real sandbox agent on a loopback address of its own, on AGENT_PORT, where
 * DescribeTasks says the task's ENI is (what the broker's bundle connects to).
 */

const template = (taskDefinition: Record<string, unknown>, clusters = 1) =>
  new BoxTemplate(
    ACCOUNT,
    {
      Resources: {
        ...Object.fromEntries(
          Array.from({ length: clusters }, (_, index) => [
            `Cluster${index}`,
            { Type: 'AWS::ECS::Cluster', Properties: { ClusterName: index === 0 ? 'sandboxes' : `other${index}` } },
          ]),
        ),
        Task: { Type: 'AWS::ECS::TaskDefinition', Properties: taskDefinition },
      },
    },
    '/nowhere',
  );

const SANDBOX = { Family: 'sandbox', ExecutionRoleArn: role('BoxTest-SandboxExecutionRole') };

describe('the gateway options from a template', () => {
  it('names the cluster by ARN and each task definition by family with its roles', () => {
    expect(ecsOptionsOf(template(SANDBOX), 'http://ecs')).toEqual({
      url: 'http://ecs',
      clusterArn: `arn:aws:ecs:${ACCOUNT.region}:${ACCOUNT.accountId}:cluster/sandboxes`,
      taskDefinitions: [{ family: 'sandbox', executionRoleArn: role('BoxTest-SandboxExecutionRole') }],
    });
  });

  it('refuses a template with more than one cluster, or a task definition without a family', () => {
    expect(() => ecsOptionsOf(template(SANDBOX, 2), 'http://ecs')).toThrow(
      'the box runs the sandboxes of one ECS cluster; the template has 2',
    );
    expect(() => ecsOptionsOf(template({}), 'http://ecs')).toThrow('Task: a task definition without Family');
  });
});

describe.skipIf(!canRunSandboxAgent)('a sandbox task in the box (the agent drops to its own uid: root only)', () => {
  let iam: IamAuthority;
  let gateway: AwsGateway;
  let ecs: BoxEcs;
  beforeAll(async () => {
    ecs = await startBoxEcs(template(SANDBOX));
    ({ iam, gateway } = await testGateway({ ecs: ecs.options }));
  });
  afterAll(async () => {
    await gateway?.close();
    await ecs?.control.close();
  });

  it('runs the agent on its own loopback address and AGENT_PORT, where DescribeTasks puts the ENI', async () => {
    const client = new ECSClient(clientConfig(gateway, iam.credentialsFor(ROLES.brokerRole.arn, 'broker')));
    // The agent's token digest, as the broker's RunTask overrides give it.
    const digest = createHash('sha256').update('agent-token').digest('hex');
    const run = await client.send(
      new RunTaskCommand({
        cluster: 'sandboxes',
        taskDefinition: 'sandbox',
        overrides: {
          containerOverrides: [{ name: 'workspace', environment: [{ name: ENV_AGENT_TOKEN_SHA256, value: digest }] }],
        },
      }),
    );
    // By id: the control plane's ARNs are in the box's default account, the fixture's is another.
    const taskId = run.tasks![0]!.taskArn!.split('/').pop()!;
    let address: string | undefined;
    for (let poll = 0; poll < 10 && address === undefined; poll++) {
      const described = await client.send(new DescribeTasksCommand({ cluster: 'sandboxes', tasks: [taskId] }));
      address = described.tasks?.[0]?.attachments?.[0]?.details?.find(
        (detail) => detail.name === 'privateIPv4Address',
      )?.value;
    }
    expect(address).toMatch(/^127\.77\.\d+\.\d+$/);
    // It holds the digest the overrides gave it: the token answers, no token is refused.
    const health = (token?: string) =>
      fetch(
        `http://${address}:${AGENT_PORT}/v1/health`,
        token ? { headers: { authorization: `Bearer ${token}` } } : {},
      );
    expect((await health('agent-token')).status).toBe(200);
    expect((await health()).status).toBe(401);
    await client.send(new StopTaskCommand({ cluster: 'sandboxes', task: taskId }));
    await expect(health('agent-token')).rejects.toThrow();
    expect(iam.denials).toEqual([]);
    client.destroy();
  });
});
