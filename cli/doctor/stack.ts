import {
  type CloudFormationClient,
  DescribeStacksCommand,
  ListStackResourcesCommand,
} from '@aws-sdk/client-cloudformation';
import { GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';

/**
 * The deployed stack as `looprail doctor` reads it with the caller's credentials: its outputs
 * (CloudFormation DescribeStacks), its resources' physical ids by type (ListStackResources),
 * and its functions' descriptions and environments (Lambda GetFunctionConfiguration), where
 * the approval sender and the MCP hosts are named.
 */

export interface StackResource {
  logicalId: string;
  type: string;
  physicalId: string;
}

export interface DeployedFunction {
  name: string;
  description: string;
  environment: Record<string, string>;
}

export interface DeployedStack {
  name: string;
  status: string;
  outputs: Record<string, string>;
  resources: StackResource[];
}

export async function readStack(client: CloudFormationClient, stackName: string): Promise<DeployedStack> {
  const described = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  const stack = described.Stacks?.[0];
  if (!stack) throw Object.assign(new Error(`Stack with id ${stackName} does not exist`), { name: 'ValidationError' });
  const outputs = Object.fromEntries((stack.Outputs ?? []).map((output) => [output.OutputKey!, output.OutputValue!]));
  const resources: StackResource[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListStackResourcesCommand({ StackName: stackName, NextToken: nextToken }));
    nextToken = page.NextToken;
    for (const summary of page.StackResourceSummaries ?? []) {
      resources.push({
        logicalId: summary.LogicalResourceId ?? '',
        type: summary.ResourceType ?? '',
        physicalId: summary.PhysicalResourceId ?? '',
      });
    }
  } while (nextToken);
  return { name: stack.StackName ?? stackName, status: stack.StackStatus ?? 'UNKNOWN', outputs, resources };
}

export function physicalIds(stack: DeployedStack, type: string): string[] {
  return stack.resources.filter((resource) => resource.type === type).map((resource) => resource.physicalId);
}

/** Every function of the stack, with its description and environment (read in parallel). */
export async function readFunctions(client: LambdaClient, stack: DeployedStack): Promise<DeployedFunction[]> {
  return Promise.all(
    physicalIds(stack, 'AWS::Lambda::Function').map(async (name) => {
      const configuration = await client.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
      return {
        name,
        description: configuration.Description ?? '',
        environment: configuration.Environment?.Variables ?? {},
      };
    }),
  );
}
