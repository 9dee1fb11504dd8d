import { AGENT_PORT } from '../../adapters/sandbox/protocol.ts';
import { type FakeEcs, type FakeTaskStart, type StartedTask, startFakeEcs } from '../support/fake-ecs.ts';
import { startAgentTask } from '../support/sandbox-agent.ts';
import type { EcsGatewayOptions } from './services/ecs.ts';
import type { BoxTemplate } from './template.ts';

/**
 * The sandboxes' ECS in the box: the template's cluster and task definitions behind the
 * gateway (RunTask authorized on them, with iam:PassRole on their roles), and a control
 * plane (test/support/fake-ecs.ts) whose task runs the real sandbox agent. Each task gets a
 * loopback address of its own and listens on AGENT_PORT there, as on its ENI in the VPC, so
 * the broker's bundle reaches it exactly as deployed: `<private IP>:AGENT_PORT`.
 */

/** The gateway's ECS options from the template: its one cluster and every task definition's family and roles. */
export function ecsOptionsOf(template: BoxTemplate, url: string): EcsGatewayOptions {
  const clusters = template.ofType('AWS::ECS::Cluster');
  if (clusters.length !== 1)
    throw new Error(`the box runs the sandboxes of one ECS cluster; the template has ${clusters.length}`);
  return {
    url,
    clusterArn: template.arn(clusters[0]!),
    taskDefinitions: template.ofType('AWS::ECS::TaskDefinition').map((logicalId) => {
      const p = template.properties(logicalId);
      if (!p.Family)
        throw new Error(`${logicalId}: a task definition without Family (the broker runs tasks by family)`);
      return {
        family: String(p.Family),
        ...(p.TaskRoleArn ? { taskRoleArn: String(p.TaskRoleArn) } : {}),
        ...(p.ExecutionRoleArn ? { executionRoleArn: String(p.ExecutionRoleArn) } : {}),
      };
    }),
  };
}

export interface BoxEcs {
  control: FakeEcs;
  options: EcsGatewayOptions;
}

/** Starts the control plane for the template's task definitions; `startTask` defaults to a sandbox agent per task. */
export async function startBoxEcs(
  template: BoxTemplate,
  startTask: (task: FakeTaskStart, address: string) => Promise<StartedTask> = (task, address) =>
    startAgentTask(task, { address, port: AGENT_PORT }),
): Promise<BoxEcs> {
  const families = ecsOptionsOf(template, 'http://unused').taskDefinitions.map((each) => each.family);
  let next = 0;
  const control = await startFakeEcs({
    cluster: ecsOptionsOf(template, 'http://unused').clusterArn,
    families,
    // 127.77.0.0/16: loopback addresses no other test of this project listens on.
    startTask: (task) => {
      next += 1;
      return startTask(task, `127.77.${Math.floor(next / 250)}.${(next % 250) + 1}`);
    },
  });
  return { control, options: ecsOptionsOf(template, control.url) };
}
