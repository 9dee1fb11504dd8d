import { runSimulation } from '@cloud-copilot/iam-simulate';
import { App, Stack } from 'aws-cdk-lib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { bedrockModelResources } from '../../infra/constructs/catalog-access.ts';

/**
 * The example org's Bedrock model is an inference profile, and the grant the stack derives
 * for it lets a call through the profile reach the foundation model in whichever Region the
 * profile routes it to (as Bedrock's inference-profile prerequisites document), and nothing
 * else: evaluated by an IAM policy evaluator, not compared as text.
 */

const ROOT = join(import.meta.dirname, '../..');
const ACCOUNT = '123456789012';

/** Resolves the partition the way CloudFormation does in the commercial partition. */
function resolved(stack: Stack, value: string): string {
  const token = stack.resolve(value) as string | { 'Fn::Join': [string, Array<string | { Ref: string }>] };
  if (typeof token === 'string') return token;
  const [separator, parts] = token['Fn::Join'];
  return parts
    .map((part) => (typeof part === 'string' ? part : part.Ref === 'AWS::Partition' ? 'aws' : '?'))
    .join(separator);
}

describe('the Bedrock grant for the example org', async () => {
  const { catalog } = await loadOrgFolder(join(ROOT, 'agents'));
  const model = catalog!.models['claude-sonnet-4-6-bedrock']!.declaration as { model_id: string; region: string };
  const stack = new Stack(new App(), 'Looprail', { env: { account: ACCOUNT, region: 'eu-west-1' } });
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'bedrock:InvokeModel',
        Resource: bedrockModelResources(stack, catalog!).resources.map((arn) => resolved(stack, arn)),
      },
    ],
  };
  const invoke = async (resource: string) => {
    const response = await runSimulation(
      {
        identityPolicies: [{ name: 'agent', policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        request: {
          principal: `arn:aws:sts::${ACCOUNT}:assumed-role/Looprail-eu-west-1-agent-x/run`,
          action: 'bedrock:InvokeModel',
          resource: { resource, accountId: ACCOUNT },
          contextVariables: {},
        },
      },
      {},
    );
    if (response.resultType === 'error') throw new Error(JSON.stringify(response.errors));
    return response.overallResult;
  };

  it('names an inference profile, not a bare foundation model', () => {
    expect(model.model_id).toMatch(/^us\.anthropic\.claude-/);
  });

  it('allows the profile and the foundation model in each Region the profile routes to', async () => {
    const foundation = model.model_id.replace(/^us\./, '');
    expect(await invoke(`arn:aws:bedrock:${model.region}:${ACCOUNT}:inference-profile/${model.model_id}`)).toBe(
      'Allowed',
    );
    for (const region of ['us-east-1', 'us-east-2', 'us-west-2'])
      expect(await invoke(`arn:aws:bedrock:${region}::foundation-model/${foundation}`), region).toBe('Allowed');
  });

  it('allows no other model or profile', async () => {
    expect(await invoke('arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-6-v1')).not.toBe(
      'Allowed',
    );
    expect(
      await invoke(`arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/us.anthropic.claude-opus-4-6-v1`),
    ).not.toBe('Allowed');
  });
});
