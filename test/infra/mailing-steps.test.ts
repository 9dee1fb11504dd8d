import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { STEP_NAMES } from '../../infra/constructs/step-functions.ts';
import { LooprailStack } from '../../infra/stacks/looprail-stack.ts';
import { CDK_CONTEXT, EMPTY_CATALOG } from '../support/stack-fixtures.ts';

/**
 * Which of the deployed steps can mail, with `approvalSender` in context: the ones whose
 * code sends mail (approval links, approval expired, `notify:` mail, budget alert mail), each
 * with the sender and the API's URL in its environment and ses:SendEmail on that identity only;
 * no other step, and none at all without a sender.
 */

const CATALOG = EMPTY_CATALOG;
const MAILING = ['RequestApproval', 'FailRun', 'FinishRun', 'ModelStep'];

function synth(context: Record<string, string>) {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new LooprailStack(app, 'Looprail', {
    env: { account: '123456789012', region: 'eu-west-1' },
    catalog: CATALOG,
  });
  const resources = Template.fromStack(stack).toJSON().Resources;
  const id = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as never);
  return STEP_NAMES.map((name) => {
    const step = stack.steps.steps[name];
    const policy = resources[id(step.role.node.tryFindChild('DefaultPolicy') as never)];
    const statements = policy.Properties.PolicyDocument.Statement as Array<{
      Action: string | string[];
      Resource: unknown;
    }>;
    return {
      name,
      variables: resources[id(step.function)].Properties.Environment.Variables as Record<string, unknown>,
      ses: statements.filter((st) => [st.Action].flat().some((action) => action.startsWith('ses:'))),
      apiId: id(stack.httpApi.api),
    };
  });
}

describe('the steps that mail', () => {
  it('get the sender, the URL and ses:SendEmail on the sender identity; the other steps get none', () => {
    for (const { name, variables, ses, apiId } of synth({ approvalSender: 'looprail@example.com' })) {
      if (MAILING.includes(name)) {
        expect(variables.LOOPRAIL_MAIL_FROM, name).toBe('looprail@example.com');
        expect(JSON.stringify(variables.LOOPRAIL_PUBLIC_URL), name).toContain(apiId);
        expect(ses, name).toHaveLength(1);
        expect([ses[0]!.Action].flat(), name).toEqual(['ses:SendEmail']);
        expect(JSON.stringify(ses[0]!.Resource), name).toContain('identity/looprail@example.com');
        expect(JSON.stringify(ses[0]!.Resource), name).toContain('identity/example.com');
        expect(JSON.stringify(ses[0]!.Resource), name).not.toContain('*');
      } else {
        expect(variables.LOOPRAIL_MAIL_FROM, name).toBeUndefined();
        expect(ses, name).toEqual([]);
      }
    }
  });

  it('none of them can mail without approvalSender in context', () => {
    for (const { name, variables, ses } of synth({})) {
      expect(variables.LOOPRAIL_MAIL_FROM, name).toBeUndefined();
      expect(ses, name).toEqual([]);
    }
  });
});
