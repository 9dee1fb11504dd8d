import { App, SecretValue, Stack } from 'aws-cdk-lib';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { NagRuleCompliance } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';
import { lambdaEnvNoSecrets } from '../../infra/nag/rules/lambda-env-no-secrets.ts';

function lambdaWith(environment: Record<string, string>) {
  const stack = new Stack(new App(), 'NagTest');
  const fn = new LambdaFunction(stack, 'Fn', {
    runtime: Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: Code.fromInline('export const handler = async () => {};'),
    environment,
  });
  return { stack, cfn: fn.node.defaultChild as never };
}

describe('Looprail-LambdaEnvNoSecrets', () => {
  it('is compliant with settings and secret names', () => {
    const { cfn } = lambdaWith({
      LOOPRAIL_SECRETS: 'aws',
      LOOPRAIL_LOG_LEVEL: 'info',
      LOOPRAIL_TRACE_TTL_DAYS: '90',
      NODE_OPTIONS: '--enable-source-maps',
      ANTHROPIC_API_KEY_SECRET: 'prod/anthropic-api-key',
      GITHUB_TOKEN_NAME: 'github-mcp-token',
      API_KEY: 'short',
    });
    expect(lambdaEnvNoSecrets(cfn)).toBe(NagRuleCompliance.COMPLIANT);
  });

  it('is compliant with references to other resources', () => {
    const stack = new Stack(new App(), 'NagTest');
    const bucket = new Bucket(stack, 'Bucket');
    const fn = new LambdaFunction(stack, 'Fn', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('export const handler = async () => {};'),
      environment: { BUCKET: bucket.bucketName, BUCKET_ARN: bucket.bucketArn },
    });
    expect(lambdaEnvNoSecrets(fn.node.defaultChild as never)).toBe(NagRuleCompliance.COMPLIANT);
  });

  it('does not apply to other resources', () => {
    const stack = new Stack(new App(), 'NagTest');
    const bucket = new Bucket(stack, 'Bucket');
    expect(lambdaEnvNoSecrets(bucket.node.defaultChild as never)).toBe(NagRuleCompliance.NOT_APPLICABLE);
  });

  it('flags well-known key formats whatever the variable is called, naming the variable only', () => {
    const { cfn } = lambdaWith({
      MODEL: ['sk', 'ant', 'api03-abcdefghijklmnopqrstuvwxyz012345'].join('-'),
      OPENAI: ['sk', 'proj', 'abcdefghijklmnopqrstuvwxyz0123'].join('-'),
      ID: 'AKIA' + 'ABCDEFGHIJKLMNOP',
      GH: ['ghp', 'abcdefghijklmnopqrstuvwxyz0123456789'].join('_'),
      PAY: 'sk_live_abcdefghijklmnopqrstuvwx',
      PEM: `-----BEGIN RSA ${'PRIVATE'} KEY-----\nMIIE`,
    });
    const findings = lambdaEnvNoSecrets(cfn);
    expect(findings).toEqual([
      'MODEL:anthropic-key',
      'OPENAI:openai-key',
      'ID:aws-access-key-id',
      'GH:github-token',
      'PAY:stripe-key',
      'PEM:private-key',
    ]);
    expect(JSON.stringify(findings)).not.toContain('abcdefghij');
  });

  it('flags a secret resolved into the environment by a dynamic reference', () => {
    const { cfn } = lambdaWith({ KEY: SecretValue.secretsManager('anthropic-api-key').unsafeUnwrap() });
    expect(lambdaEnvNoSecrets(cfn)).toEqual(['KEY:secretsmanager-reference']);
  });

  it('flags a key-like literal in a variable named as a secret', () => {
    const { cfn } = lambdaWith({
      DB_PASSWORD: 'hunter2hunter2!',
      WEBHOOK_SECRET: 'f3a9c1d27b8e4a60',
      HOOK_SECRET: 'prod/webhook-hmac-key',
    });
    expect(lambdaEnvNoSecrets(cfn)).toEqual(['DB_PASSWORD:literal', 'WEBHOOK_SECRET:literal']);
  });

  it('fails the looprail pack as an error, and passes it when clean', () => {
    const bad = lambdaWith({ ANTHROPIC_API_KEY: ['sk', 'ant', 'api03-abcdefghijklmnopqrstuvwxyz012345'].join('-') });
    const report = new LooprailChecks().validateScope(bad.stack);
    expect(report.success).toBe(false);
    expect(report.violations).toMatchObject([
      { ruleName: 'Looprail-LambdaEnvNoSecrets[ANTHROPIC_API_KEY:anthropic-key]', severity: 'error' },
    ]);

    const good = lambdaWith({ LOOPRAIL_SECRETS: 'aws' });
    expect(new LooprailChecks().validateScope(good.stack)).toEqual({ success: true, violations: [] });
  });
});
