import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FailInput } from '../../core/definitions/run.ts';
import { RUN_FAILED } from '../../core/errors.ts';
import { AGENT_RUN_ASL } from '../../infra/constructs/agent-state-machine.ts';
import { LooprailStack } from '../../infra/stacks/looprail-stack.ts';
import { matchesEventPattern } from '../support/event-pattern.ts';
import { CDK_CONTEXT, EMPTY_CATALOG, ROOT } from '../support/stack-fixtures.ts';

/**
 * The execution-status rule hands FailRun the endings it has not seen, and only those: its
 * synthesized pattern against real-looking "Step Functions Execution Status Change" events
 * (the shape EventBridge delivers: error and cause in `detail`, null when there are none).
 */

const CATALOG = EMPTY_CATALOG;

const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:Looprail-agent-run';

function statusChange(status: string, fields: Record<string, unknown> = {}, machine = MACHINE) {
  const name = 'r-6f1e0c2a9b8d7e6f5a4b3c2d1e0f9a8b';
  const failed = status === 'FAILED' || status === 'TIMED_OUT' || status === 'ABORTED';
  return {
    version: '0',
    id: '315c1398-40ff-a850-213b-158f73e60175',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: '2026-01-05T08:12:31Z',
    region: 'eu-west-1',
    resources: [`${machine.replace(':stateMachine:', ':execution:')}:${name}`],
    detail: {
      executionArn: `${machine.replace(':stateMachine:', ':execution:')}:${name}`,
      stateMachineArn: machine,
      name,
      status,
      startDate: 1_767_600_000_000,
      stopDate: failed || status === 'SUCCEEDED' ? 1_767_600_751_000 : null,
      input: `{"runId":"${name}"}`,
      output: null,
      inputDetails: { included: true },
      outputDetails: null,
      error: null,
      cause: null,
      ...fields,
    },
  };
}

describe('the execution-status rule', () => {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new LooprailStack(app, 'Looprail', {
    env: { account: '123456789012', region: 'eu-west-1' },
    catalog: CATALOG,
  });
  const template = Template.fromStack(stack);
  const machineId = stack.getLogicalId(stack.agentRun.stateMachine.node.defaultChild as never);
  const rule = template.toJSON().Resources[stack.getLogicalId(stack.sweeper.rule.node.defaultChild as never)];
  // The state machine's ARN as CloudFormation resolves the Ref.
  const pattern = JSON.parse(
    JSON.stringify(rule.Properties.EventPattern).replaceAll(
      JSON.stringify({ Ref: machineId }),
      JSON.stringify(MACHINE),
    ),
  );
  const swept = (event: unknown) => matchesEventPattern(pattern, event);

  it("ignores the machine's own RunFailed ending: FailRun closed that run already", () => {
    expect(
      swept(
        statusChange('FAILED', { error: RUN_FAILED, cause: 'the run ended with an error; its trace has the details' }),
      ),
    ).toBe(false);
    const asl = JSON.parse(readFileSync(join(ROOT, AGENT_RUN_ASL), 'utf8'));
    expect(asl.States.RunFailed).toMatchObject({ Type: 'Fail', Error: RUN_FAILED });
  });

  it('sweeps failures no Catch saw, with or without an error, and stopped or timed-out executions', () => {
    expect(
      swept(
        statusChange('FAILED', {
          error: 'States.Runtime',
          cause: "An error occurred while executing the state 'Route'",
        }),
      ),
    ).toBe(true);
    expect(swept(statusChange('FAILED', { error: 'Lambda.ServiceException' }))).toBe(true);
    expect(swept(statusChange('FAILED'))).toBe(true);
    const { error: _error, cause: _cause, ...withoutError } = statusChange('FAILED').detail;
    expect(swept({ ...statusChange('FAILED'), detail: withoutError })).toBe(true);
    expect(swept(statusChange('TIMED_OUT', { error: 'States.Timeout' }))).toBe(true);
    expect(swept(statusChange('ABORTED'))).toBe(true);
    expect(swept(statusChange('ABORTED', { error: 'looprail.Cancelled', cause: 'cancelled by ops@example.com' }))).toBe(
      true,
    );
    // Even one that ended RunFailed by hand (a stop with that error) when it was aborted.
    expect(swept(statusChange('ABORTED', { error: RUN_FAILED }))).toBe(true);
  });

  it('leaves running and succeeded executions, and other state machines, alone', () => {
    expect(swept(statusChange('RUNNING'))).toBe(false);
    expect(swept(statusChange('SUCCEEDED', { output: '{"runId":"r-1"}' }))).toBe(false);
    expect(swept(statusChange('FAILED', { error: 'States.Runtime' }, MACHINE.replace('Looprail', 'Other')))).toBe(
      false,
    );
    expect(swept({ ...statusChange('FAILED', { error: 'States.Runtime' }), source: 'acme.states' })).toBe(false);
  });

  it('hands FailRun the run id (the execution name) and the ending, as its input schema reads them', () => {
    const { InputPathsMap, InputTemplate } = rule.Properties.Targets[0].InputTransformer as {
      InputPathsMap: Record<string, string>;
      InputTemplate: string;
    };
    const event = statusChange('TIMED_OUT', { error: 'States.Timeout' });
    // As EventBridge renders it: a placeholder inside quotes takes the raw value, one outside takes its JSON.
    const rendered = InputTemplate.replace(/<([\w-]+)>/g, (_, key: string, offset: number) => {
      const path = InputPathsMap[key]!.replace(/^\$\./, '').split('.');
      const value = path.reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], event);
      const insideQuotes = (InputTemplate.slice(0, offset).match(/(?<!\\)"/g)?.length ?? 0) % 2 === 1;
      return insideQuotes ? String(value) : JSON.stringify(value);
    });
    expect(FailInput.parse(JSON.parse(rendered))).toEqual({
      runId: event.detail.name,
      error: { Error: 'looprail.ExecutionTIMED_OUT', Cause: 'the execution ended outside the state machine' },
    });
  });
});
