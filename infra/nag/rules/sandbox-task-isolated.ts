import { Stack, type CfnResource } from 'aws-cdk-lib';
import { CfnTaskDefinition } from 'aws-cdk-lib/aws-ecs';
import { NagRuleCompliance, type NagRuleResult } from 'cdk-nag';
import { WORKSPACE_CONTAINER } from '../../../adapters/sandbox/aws-contract.ts';

/**
 * Looprail-SandboxTaskIsolated: a sandbox task definition (one with a `workspace`
 * container, where model-written commands run) gives those commands nothing to escape
 * with: no task role (so no AWS credentials at the metadata endpoint), no secrets or
 * environment files injected into any container, no privileged container, its own network
 * namespace (awsvpc), and no host or EFS volume. Findings name what is wrong, by container.
 */
export function sandboxTaskIsolated(node: CfnResource): NagRuleResult {
  if (!(node instanceof CfnTaskDefinition)) return NagRuleCompliance.NOT_APPLICABLE;
  const stack = Stack.of(node);
  const containers = (stack.resolve(node.containerDefinitions) ?? []) as Array<Record<string, unknown>>;
  const name = (container: Record<string, unknown>) => String(field(container, 'name'));
  if (!containers.some((container) => name(container) === WORKSPACE_CONTAINER)) return NagRuleCompliance.NOT_APPLICABLE;

  const findings: string[] = [];
  if (stack.resolve(node.taskRoleArn) !== undefined) findings.push('task-role');
  const networkMode = stack.resolve(node.networkMode);
  if (networkMode !== 'awsvpc') findings.push(`network-mode:${String(networkMode ?? 'default')}`);
  for (const container of containers) {
    const secrets = field(container, 'secrets');
    if (Array.isArray(secrets) && secrets.length > 0) findings.push(`secrets:${name(container)}`);
    const files = field(container, 'environmentFiles');
    if (Array.isArray(files) && files.length > 0) findings.push(`environment-files:${name(container)}`);
    if (field(container, 'privileged') === true) findings.push(`privileged:${name(container)}`);
  }
  for (const volume of (stack.resolve(node.volumes) ?? []) as Array<Record<string, unknown>>) {
    const host = field(volume, 'host') as Record<string, unknown> | undefined;
    if (host && field(host, 'sourcePath') !== undefined) findings.push(`host-volume:${String(field(volume, 'name'))}`);
    if (field(volume, 'efsVolumeConfiguration') !== undefined)
      findings.push(`efs-volume:${String(field(volume, 'name'))}`);
  }
  return findings.length > 0 ? findings : NagRuleCompliance.COMPLIANT;
}

/** A property as L2 constructs render it (camelCase) or as written in CloudFormation (PascalCase). */
function field(object: Record<string, unknown>, key: string): unknown {
  return object[key] ?? object[key[0]!.toUpperCase() + key.slice(1)];
}
