import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../cli/local/host.ts';
import { STEP_NAMES, TRACE_EXPORT_STEPS } from '../../infra/constructs/step-functions.ts';
import { LooprailChecks } from '../../infra/nag/looprail-checks.ts';
import { LooprailStack, type LooprailStackProps } from '../../infra/stacks/looprail-stack.ts';

/** OpenTelemetry export on AWS: only the steps that close runs get the endpoint, and only they may read its headers secret. */

const ROOT = join(import.meta.dirname, '../..');
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;
const catalog = await loadCatalog('test/fixtures/console-org');

function synth(props: Partial<LooprailStackProps> = {}) {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new LooprailStack(app, 'Looprail', {
    env: { account: '123456789012', region: 'eu-west-1' },
    catalog,
    ...props,
  });
  return { app, stack, template: Template.fromStack(stack) };
}

function environmentOf(
  stack: LooprailStack,
  template: Template,
  name: (typeof STEP_NAMES)[number],
): Record<string, string> {
  const id = Stack.of(stack).getLogicalId(stack.steps.steps[name].function.node.defaultChild as never);
  return template.toJSON().Resources[id].Properties.Environment.Variables as Record<string, string>;
}

function policyText(stack: LooprailStack, template: Template, name: (typeof STEP_NAMES)[number]): string {
  const policy = stack.steps.steps[name].role.node.tryFindChild('DefaultPolicy') as {
    node: { defaultChild?: unknown };
  };
  return JSON.stringify(
    template.toJSON().Resources[stack.getLogicalId(policy.node.defaultChild as never)].Properties.PolicyDocument,
  );
}

describe('OTLP export in the stack', () => {
  it('gives FinishRun and FailRun the endpoint and the headers secret (by name), and no other function', () => {
    const { app, stack, template } = synth({
      otlp: { endpoint: 'https://collector.example/v1/traces', headersSecret: 'otel/collector-headers' },
    });
    for (const name of STEP_NAMES) {
      const environment = environmentOf(stack, template, name);
      const exports = (TRACE_EXPORT_STEPS as readonly string[]).includes(name);
      expect(environment.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, name).toBe(
        exports ? 'https://collector.example/v1/traces' : undefined,
      );
      expect(environment.LOOPRAIL_OTLP_HEADERS_SECRET_NAME, name).toBe(exports ? 'otel/collector-headers' : undefined);
      const policy = policyText(stack, template, name);
      expect(policy.includes('secret:otel/collector-headers-??????'), name).toBe(exports);
    }
    // cdk-nag and the looprail pack (no secret value in any Lambda environment) stay clean.
    const violations = [new AwsSolutionsChecks(app), new LooprailChecks(app)].flatMap((pack) =>
      pack.validateScope(app).violations.map((v) => v.ruleName),
    );
    expect(violations).toEqual([]);
  });

  it('configures nothing by default', () => {
    const { stack, template } = synth();
    for (const name of STEP_NAMES)
      expect(environmentOf(stack, template, name).OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).toBeUndefined();
  });

  it('refuses an endpoint that is not an http(s) URL, naming the setting', () => {
    expect(() => synth({ otlp: { endpoint: 'collector:4318' } })).toThrow(
      /^otlp: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an http\(s\) URL/,
    );
    expect(() => synth({ otlp: { endpoint: 'https://c.example', headersSecret: 'bad name!' } })).toThrow(
      /LOOPRAIL_OTLP_HEADERS_SECRET_NAME: expected a secret name/,
    );
  });
});
