import { describe, expect, it } from 'vitest';
import type { SkillRecord } from '../../core/definitions/skills.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import { type DeclaredOrg, type DoctorClients, runDoctor } from '../../cli/doctor/checks.ts';
import { doctorPolicy } from '../../cli/doctor/policy.ts';
import { reportLines } from '../../cli/doctor/report.ts';

/**
 * `looprail doctor`'s failure paths, each with its fix, over clients that answer as AWS does
 * (the box test, test/box/doctor.test.ts, runs the whole doctor against a deployed stack).
 */

type Answers = Record<string, (input: Record<string, any>) => unknown>;

function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name });
}

function client(answers: Answers) {
  return {
    config: { region: async () => 'eu-west-1' },
    async send(command: { constructor: { name: string }; input: Record<string, any> }) {
      const operation = command.constructor.name.replace(/Command$/, '');
      const answer = answers[operation];
      if (!answer) throw new Error(`unexpected ${operation}`);
      return answer(command.input);
    },
  } as never;
}

const RESOURCES = [
  { LogicalResourceId: 'Table', ResourceType: 'AWS::DynamoDB::Table', PhysicalResourceId: 'Looprail-Table-1' },
  { LogicalResourceId: 'Skills', ResourceType: 'Custom::LooprailSkills', PhysicalResourceId: 'skills' },
  { LogicalResourceId: 'Host', ResourceType: 'AWS::Lambda::Function', PhysicalResourceId: 'Looprail-Host-1' },
  { LogicalResourceId: 'Step', ResourceType: 'AWS::Lambda::Function', PhysicalResourceId: 'Looprail-Step-1' },
  { LogicalResourceId: 'Sched', ResourceType: 'AWS::Scheduler::Schedule', PhysicalResourceId: 'Looprail-Sched-1' },
];

function stack(overrides: Answers = {}): Answers {
  return {
    DescribeStacks: () => ({
      Stacks: [
        {
          StackName: 'Looprail',
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: [{ OutputKey: 'TableName', OutputValue: 't' }],
        },
      ],
    }),
    ListStackResources: () => ({ StackResourceSummaries: RESOURCES }),
    ...overrides,
  };
}

function lambda(overrides: Answers = {}): Answers {
  return {
    GetFunctionConfiguration: ({ FunctionName }) =>
      FunctionName === 'Looprail-Host-1'
        ? { Description: 'MCP host of notes: a server', Environment: { Variables: {} } }
        : { Description: 'a step', Environment: { Variables: { LOOPRAIL_MAIL_FROM: 'Looprail <bot@example.com>' } } },
    Invoke: () => ({ Payload: Buffer.from(JSON.stringify({ ok: true, tools: [{ name: 'a' }, { name: 'b' }] })) }),
    ...overrides,
  };
}

const record = { name: 'runbook', version: '2.0.0', sha256: 'abc' } as SkillRecord;

function clients(
  parts: { cfn?: Answers; fn?: Answers; ses?: Answers; sched?: Answers; skills?: Partial<SkillStore> } = {},
) {
  const skills: SkillStore = {
    putVersion: async () => 'created',
    getVersion: async (name, version) => (name === 'runbook' && version === '2.0.0' ? record : undefined),
    listVersions: async () => [],
    ...parts.skills,
  } as SkillStore;
  return {
    cloudformation: client(parts.cfn ?? stack()),
    lambda: client(parts.fn ?? lambda()),
    secretsManager: client({
      DescribeSecret: ({ SecretId }) => {
        if (SecretId === 'present') return {};
        throw awsError('ResourceNotFoundException');
      },
    }),
    ses: client({
      GetEmailIdentity: () => ({ VerifiedForSendingStatus: true }),
      GetAccount: () => ({ ProductionAccessEnabled: true }),
      ...parts.ses,
    }),
    scheduler: client({
      GetSchedule: () => ({ State: 'ENABLED', ScheduleExpression: 'rate(1 hour)' }),
      ...parts.sched,
    }),
    skills: () => skills,
  } satisfies DoctorClients;
}

const ORG: DeclaredOrg = {
  secrets: ['present'],
  pins: [{ name: 'runbook', range: 'v2', version: '2.0.0', sha256: 'sha256:abc' }],
};
const TARGET = { stackName: 'Looprail', region: 'eu-west-1' };
const problems = async (parts: Parameters<typeof clients>[0], org = ORG) =>
  (await runDoctor(clients(parts), org, TARGET)).filter((result) => result.status !== 'ok');

describe('looprail doctor checks', () => {
  it('passes a healthy stack, every check on its own line', async () => {
    const results = await runDoctor(clients(), ORG, TARGET);
    expect(reportLines(results)).toEqual([
      '✓ stack Looprail (UPDATE_COMPLETE): 5 resources in eu-west-1',
      '✓ secret "present" exists',
      '✓ approval sender bot@example.com is verified in SES (as bot@example.com)',
      '✓ SES has production access',
      '✓ skill runbook@2.0.0 is published',
      '✓ MCP server notes (Looprail-Host-1) answers: 2 tools',
      '✓ schedule Looprail-Sched-1 is enabled (rate(1 hour))',
      '7 checks passed',
    ]);
  });

  it('stops at a stack that does not exist, saying how to deploy or name it', async () => {
    const cfn = stack({
      DescribeStacks: () => {
        throw awsError('ValidationError', 'Stack with id Looprail does not exist');
      },
    });
    expect(await runDoctor(clients({ cfn }), ORG, TARGET)).toEqual([
      {
        status: 'fail',
        message: 'stack Looprail not found in eu-west-1',
        fix: 'deploy it (`npx cdk deploy`, README Deploying), or name it with --stack and --region',
      },
    ]);
  });

  it('names a missing secret with the command that sets it', async () => {
    expect(await problems({}, { ...ORG, secrets: ['present', 'github-token'] })).toEqual([
      {
        status: 'fail',
        message: 'secret "github-token" is declared in secrets.yaml but missing in Secrets Manager (eu-west-1)',
        fix: 'set it: `looprail secrets set github-token --aws --region eu-west-1 < file-with-the-value`',
      },
    ]);
  });

  it('warns of the SES sandbox and of a stack without a sender', async () => {
    const sandboxed = await problems({ ses: { GetAccount: () => ({ ProductionAccessEnabled: false }) } });
    expect(sandboxed.map((each) => [each.status, each.message])).toEqual([
      ['warn', 'SES is in the sandbox: approval mails reach only verified addresses, at most 200 a day'],
    ]);
    const fn = lambda({ GetFunctionConfiguration: () => ({ Description: 'a step', Environment: { Variables: {} } }) });
    expect((await problems({ fn })).map((each) => [each.status, each.fix])).toEqual([
      ['warn', 'deploy with `-c approvalSender=<address>` (an address or domain verified in SES)'],
    ]);
  });

  it('fails a skill missing from the registry, or one whose hash is not the locked one', async () => {
    const missing = await problems({ skills: { getVersion: async () => undefined } });
    expect(missing.map((each) => each.message)).toEqual(['skill runbook@v2 (2.0.0) is not in the skills registry']);
    expect(missing[0]!.fix).toMatch(/^redeploy \(`npx cdk deploy`\)/);
    const changed = await problems({ skills: { getVersion: async () => ({ ...record, sha256: 'other' }) } });
    expect(changed.map((each) => each.message)).toEqual([
      "skill runbook@v2: the registry's 2.0.0 (sha256:other) is not the locked sha256:abc",
    ]);
    const unlocked = { ...ORG, pins: [{ name: 'runbook', range: '^2' }] };
    expect((await problems({}, unlocked)).map((each) => each.message)).toEqual([
      'no version of skill runbook@^2 is in the skills registry',
    ]);
  });

  it('fails an MCP host that crashes or answers an error, and a disabled schedule', async () => {
    const crashed = lambda({
      Invoke: () => ({ FunctionError: 'Unhandled', Payload: Buffer.from('{"errorType":"Error"}') }),
    });
    expect((await problems({ fn: crashed })).map((each) => each.message)).toEqual([
      'MCP server notes (Looprail-Host-1): its host failed (Unhandled): {"errorType":"Error"}',
    ]);
    const refused = lambda({
      Invoke: () => ({
        Payload: Buffer.from(
          JSON.stringify({ ok: false, error: { name: 'x.ToolUnavailable', message: 'spawn ENOENT' } }),
        ),
      }),
    });
    expect((await problems({ fn: refused })).map((each) => each.message)).toEqual([
      'MCP server notes (Looprail-Host-1): x.ToolUnavailable: spawn ENOENT',
    ]);
    const disabled = await problems({
      sched: { GetSchedule: () => ({ State: 'DISABLED', ScheduleExpression: 'rate(1 hour)' }) },
    });
    expect(disabled.map((each) => each.message)).toEqual(['schedule Looprail-Sched-1 is DISABLED (rate(1 hour))']);
  });

  it('reports a refused call with the policy to attach, and prints that policy scoped to the stack', async () => {
    const ses = {
      GetAccount: () => {
        throw awsError('AccessDeniedException', 'not authorized');
      },
    };
    const refused = await problems({ ses });
    expect(refused).toEqual([
      {
        status: 'fail',
        message: 'SES account: refused (AccessDeniedException: not authorized)',
        fix: expect.stringContaining('`looprail doctor --print-policy`'),
      },
    ]);
    const policy = doctorPolicy({ region: 'eu-west-1', accountId: '111122223333', stackName: 'Prod' });
    expect(policy.Statement.find((each) => each.Sid === 'AskTheMcpHostsForTheirTools')?.Resource).toBe(
      'arn:aws:lambda:eu-west-1:111122223333:function:Prod-McpHostsHost*',
    );
    expect(JSON.stringify(policy)).not.toContain('GetSecretValue');
  });
});
