import { describe, expect, it } from 'vitest';
import {
  FUNCTION_ENVIRONMENTS,
  functionEnvironment,
  ownEnvironment,
  roleVariables,
} from '../../functions/_shared/env-contract.ts';
import type { HandlerFunctionProps } from '../../infra/constructs/handler-function.ts';

/**
 * The environment contract (functions/_shared/env-contract.ts): what the constructs build
 * is what the functions parse. The `@ts-expect-error` lines are the compile-time half:
 * typecheck fails if a role's required variable could be left out.
 */

const base = { tableName: 'looprail-runs' };
const cluster = 'arn:aws:ecs:eu-west-1:123456789012:cluster/sandboxes';
const broker = {
  LOOPRAIL_SANDBOX_CLUSTER: cluster,
  LOOPRAIL_SANDBOX_SUBNETS: 'subnet-1,subnet-2',
  LOOPRAIL_SANDBOX_SECURITY_GROUPS: 'sg-1',
};

/** A hosted MCP server as the McpHosts construct writes it. */
const hosted = { name: 'notes', program: 'server.mjs', timeouts: { call: 30 } };

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
      sandboxBroker: ownEnvironment('sandboxBroker', broker),
      sandboxSweeper: ownEnvironment('sandboxSweeper', { LOOPRAIL_SANDBOX_CLUSTER: cluster, LOOPRAIL_TABLE_NAME: 't' }),
      skillsPublisher: ownEnvironment('skillsPublisher', {
        LOOPRAIL_TABLE_NAME: 't',
        LOOPRAIL_SKILLS_PUBLISHER: 'cdk:S',
      }),
      mcpHost: ownEnvironment('mcpHost', { LOOPRAIL_MCP_SERVER: JSON.stringify(hosted) }),
    };
    for (const [role, schema] of Object.entries(FUNCTION_ENVIRONMENTS)) {
      expect(schema.safeParse(built[role as keyof typeof built]).success, role).toBe(true);
    }
  });

  it('parses the MCP hosts of the steps and the server of a host, naming what a bad value should be', () => {
    const hosts = FUNCTION_ENVIRONMENTS.runtime.parse({
      ...functionEnvironment('runtime', base, {}),
      ...roleVariables('runtime', { LOOPRAIL_MCP_HOSTS: '{"notes":"Looprail-NotesHost"}' }),
    });
    expect(hosts.LOOPRAIL_MCP_HOSTS).toEqual({ notes: 'Looprail-NotesHost' });
    const badHosts = FUNCTION_ENVIRONMENTS.runtime.safeParse({
      ...base,
      LOOPRAIL_TABLE_NAME: 't',
      LOOPRAIL_MCP_HOSTS: '["x"]',
    });
    expect(badHosts.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual([
      'LOOPRAIL_MCP_HOSTS: expected JSON { "<server>": "<host function name>" }',
    ]);
    const host = FUNCTION_ENVIRONMENTS.mcpHost.parse(
      ownEnvironment('mcpHost', { LOOPRAIL_MCP_SERVER: JSON.stringify(hosted) }),
    );
    expect(host).toMatchObject({ LOOPRAIL_STATE_DIR: '/tmp/looprail-mcp', LOOPRAIL_SECRETS: 'aws' });
    expect(host.LOOPRAIL_MCP_SERVER).toEqual({ ...hosted, args: [], env: {}, env_secrets: {}, read_only_tools: [] });
    const badServer = FUNCTION_ENVIRONMENTS.mcpHost.safeParse({ LOOPRAIL_MCP_SERVER: '{"name":"notes"}' });
    expect(badServer.error?.issues[0]?.message).toBe(
      'expected JSON a hosted MCP server (name, program, args, env, timeouts)',
    );
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

  it('builds the sandbox functions their own variables only, without the base ones', () => {
    const built = ownEnvironment('sandboxBroker', { ...broker, LOOPRAIL_SANDBOX_EGRESS_PROXY: undefined });
    expect(built).toEqual(broker);
    const sweeper = ownEnvironment('sandboxSweeper', { LOOPRAIL_SANDBOX_CLUSTER: cluster, LOOPRAIL_TABLE_NAME: 't' });
    expect(FUNCTION_ENVIRONMENTS.sandboxSweeper.parse(sweeper)).toMatchObject({ LOOPRAIL_SANDBOX_MAX_SECONDS: 86_400 });
  });

  it('requires at compile time what a sandbox function parses, and nothing it does not', () => {
    // @ts-expect-error the broker needs the cluster, subnets and security groups it starts tasks with
    expect(FUNCTION_ENVIRONMENTS.sandboxBroker.safeParse(ownEnvironment('sandboxBroker', {})).success).toBe(false);
    // @ts-expect-error the broker reads no agent secrets: LOOPRAIL_SECRETS is not one of its variables
    expect(ownEnvironment('sandboxBroker', { ...broker, LOOPRAIL_SECRETS: 'aws' })).toHaveProperty('LOOPRAIL_SECRETS');
    // @ts-expect-error the broker's parser does not extend the runtime's: no base variables for it
    expect(functionEnvironment('sandboxBroker', base, broker)).toHaveProperty('LOOPRAIL_TABLE_NAME');
    // @ts-expect-error the sweeper reads the run table
    expect(ownEnvironment('sandboxSweeper', { LOOPRAIL_SANDBOX_CLUSTER: cluster })).not.toHaveProperty('x');
  });

  it('is the only way to give a HandlerFunction its environment', () => {
    const built: HandlerFunctionProps['environment'] = functionEnvironment('runtime', base, {});
    // @ts-expect-error a hand-written record is not an environment the contract built
    const handWritten: HandlerFunctionProps['environment'] = { LOOPRAIL_TABLE_NAME: 'looprail-runs' };
    expect(handWritten).toEqual({ LOOPRAIL_TABLE_NAME: 'looprail-runs' });
    expect(built).toMatchObject(handWritten);
  });

  it('leaves unset optional variables out', () => {
    const variables = roleVariables('approval', { LOOPRAIL_MAIL_FROM: undefined, LOOPRAIL_APPROVERS: '' });
    expect(variables).toEqual({ LOOPRAIL_APPROVERS: '' });
  });
});
