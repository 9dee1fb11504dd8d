import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsGateway } from './aws-gateway.ts';
import { ACCOUNT, clientConfig, ROLES, testGateway } from './gateway-fixture.ts';
import type { IamAuthority } from './iam.ts';

let iam: IamAuthority;
let gateway: AwsGateway;
const asked: string[] = [];

beforeAll(async () => {
  ({ iam, gateway } = await testGateway({
    bedrock: {
      async converse(modelId) {
        asked.push(modelId);
        return {
          output: { message: { role: 'assistant', content: [{ text: 'done' }] } },
          stopReason: 'end_turn',
          usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 },
          metrics: { latencyMs: 1 },
        };
      },
    },
  }));
});

afterAll(async () => {
  await gateway.close();
});

const converse = (roleArn: string, modelId: string) =>
  new BedrockRuntimeClient(clientConfig(gateway, iam.credentialsFor(roleArn))).send(
    new ConverseCommand({ modelId, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
  );

describe('Bedrock Converse behind the gateway', () => {
  it('answers a model the role may invoke: a foundation model, or an inference profile and the model it routes to', async () => {
    const direct = await converse(ROLES.publisherRole.arn, 'anthropic.claude-sonnet-4-6-v1:0');
    expect(direct.output?.message?.content?.[0]?.text).toBe('done');
    await converse(ROLES.stepRole.arn, 'eu.anthropic.claude-sonnet-4-6-v1:0');
    expect(asked).toEqual(['anthropic.claude-sonnet-4-6-v1:0', 'eu.anthropic.claude-sonnet-4-6-v1:0']);
  });

  it('refuses an inference profile when only its foundation model is granted, naming the profile', async () => {
    await expect(converse(ROLES.publisherRole.arn, 'eu.anthropic.claude-sonnet-4-6-v1:0')).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(iam.denials.at(-1)).toMatchObject({
      action: 'bedrock:InvokeModel',
      resource: `arn:aws:bedrock:${ACCOUNT.region}:${ACCOUNT.accountId}:inference-profile/eu.anthropic.claude-sonnet-4-6-v1:0`,
    });
    expect(asked).toHaveLength(2);
  });
});
