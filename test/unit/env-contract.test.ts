import { describe, expect, it } from 'vitest';
import { FUNCTION_ENVIRONMENTS, functionEnvironment, roleVariables } from '../../functions/_shared/env-contract.ts';

/**
 * The environment contract (functions/_shared/env-contract.ts): what the constructs build
 * is what the functions parse. The `@ts-expect-error` lines are the compile-time half:
 * typecheck fails if a role's required variable could be left out.
 */

const base = { tableName: 'looprail-runs' };

describe('the Lambda environment contract', () => {
  it('builds the base variables every function gets, with the stack defaults', () => {
    expect(functionEnvironment('runtime', base, {})).toEqual({
      LOOPRAIL_TABLE_NAME: 'looprail-runs',
      LOOPRAIL_TRACE_TTL_DAYS: '90',
      LOOPRAIL_SECRETS: 'aws',
      LOOPRAIL_LOG_LEVEL: 'info',
    });
    const chosen = functionEnvironment('runtime', { ...base, traceTtlDays: 7, logLevel: 'debug' }, {});
    expect(chosen).toMatchObject({ LOOPRAIL_TRACE_TTL_DAYS: '7', LOOPRAIL_LOG_LEVEL: 'debug' });
  });

  it('builds for each role an environment that role parses', () => {
    const built = {
      runtime: functionEnvironment('runtime', base, {}),
      trigger: functionEnvironment('trigger', base, { LOOPRAIL_STATE_MACHINE_ARN: 'arn:aws:states:::stateMachine:x' }),
      approval: functionEnvironment('approval', base, { LOOPRAIL_PUBLIC_URL: 'https://api.example.com' }),
    };
    for (const [role, schema] of Object.entries(FUNCTION_ENVIRONMENTS)) {
      expect(schema.safeParse(built[role as keyof typeof built]).success, role).toBe(true);
    }
  });

  it('requires at compile time what a role parses without a default', () => {
    // @ts-expect-error a trigger function needs the state machine it starts
    expect(FUNCTION_ENVIRONMENTS.trigger.safeParse(functionEnvironment('trigger', base, {})).success).toBe(false);
    // @ts-expect-error an approval function needs the URL its links point to
    expect(FUNCTION_ENVIRONMENTS.approval.safeParse(functionEnvironment('approval', base, {})).success).toBe(false);
    // @ts-expect-error a variable no parser of the role reads is refused
    expect(roleVariables('runtime', { LOOPRAIL_EVENTBUS: 'default' })).toEqual({ LOOPRAIL_EVENTBUS: 'default' });
    // @ts-expect-error the log level is one the runtime knows
    const verbose = functionEnvironment('runtime', { ...base, logLevel: 'verbose' }, {});
    expect(FUNCTION_ENVIRONMENTS.runtime.safeParse(verbose).success).toBe(false);
  });

  it('leaves unset optional variables out', () => {
    const variables = roleVariables('approval', { LOOPRAIL_MAIL_FROM: undefined, LOOPRAIL_APPROVERS: '' });
    expect(variables).toEqual({ LOOPRAIL_APPROVERS: '' });
  });
});
