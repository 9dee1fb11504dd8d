import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import { doctorCommand } from '../../cli/commands/doctor.ts';
import type { DoctorClients } from '../../cli/doctor/checks.ts';
import type { CheckResult } from '../../cli/doctor/report.ts';
import { DOCTOR, NOBODY, StackInABox } from './box.ts';
import { node22 } from './lambdas.ts';
import { synth } from './synth.ts';

/**
 * `looprail doctor` against the default org deployed into the stack in a box, as a person
 * runs it: an IAM user holding only the policy the README documents, every call through the
 * box's AWS endpoint. All green but the two secrets the org declares and nobody set yet; set
 * them and they pass; unverify the sender and that check fails. The doctor is never refused.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SENDER = 'looprail@example.com';
const SECRETS = ['anthropic-api-key', 'github-token'];

let box: StackInABox;

beforeAll(async () => {
  const synthesized = await synth({ context: { approvalSender: SENDER } });
  box = await StackInABox.deploy({
    ...synthesized,
    dynamodbUrl: inject('dynamodbEndpoint'),
    retryIntervalMs: 0,
    verifiedIdentities: [SENDER],
  });
}, 300_000);

afterAll(async () => {
  await box?.close();
});

function clientsAs(user: string): DoctorClients {
  const config = {
    endpoint: box.gateway.url,
    region: box.template.account.region,
    credentials: box.userCredentials(user),
  };
  const dynamodb = new DynamoDBClient(config);
  return {
    cloudformation: new CloudFormationClient(config),
    lambda: new LambdaClient(config),
    secretsManager: new SecretsManagerClient(config),
    ses: new SESv2Client(config),
    scheduler: new SchedulerClient(config),
    skills: (tableName) => new DynamoSkillStore({ client: dynamodb, tableName }),
  };
}

async function doctor(user = DOCTOR): Promise<{ ok: boolean; results: CheckResult[]; lines: string[] }> {
  const lines: string[] = [];
  const outcome = await doctorCommand({
    stack: 'Looprail',
    org: 'agents',
    clients: clientsAs(user),
    log: (line) => lines.push(line),
  });
  return { ...outcome, lines };
}

const failures = (results: CheckResult[]) => results.filter((result) => result.status !== 'ok');

describe('looprail doctor against the default org in the box', () => {
  it('runs as the CLI with the default credential chain: all green but the unset secrets, exit status 1', async () => {
    const credentials = box.userCredentials(DOCTOR);
    const run = promisify(execFile)(node22(), ['bin/looprail.js', 'doctor', '--org', 'agents'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: box.workDir,
        AWS_ENDPOINT_URL: box.gateway.url,
        AWS_REGION: box.template.account.region,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
    });
    const failed = await run.then(
      () => undefined,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failed?.code, failed?.stderr).toBe(1);
    const lines = failed!.stdout!.split('\n');
    expect(lines.filter((line) => line.startsWith('✗'))).toEqual(
      SECRETS.map(
        (name) => `✗ secret "${name}" is declared in secrets.yaml but missing in Secrets Manager (us-east-1)`,
      ),
    );
    expect(lines).toContain(
      `    → set it: \`looprail secrets set github-token --aws --region us-east-1 < file-with-the-value\``,
    );
    expect(lines.filter((line) => line.startsWith('!'))).toEqual([]);
    expect(lines).toContain('2 of 9 checks failed');
    expect(box.iam.denials).toEqual([]);
  });

  it('reports every check: stack, sender, sandbox, skills, MCP hosts with their tools, schedules', async () => {
    const { ok, results } = await doctor();
    expect(ok).toBe(false);
    expect(failures(results).map((result) => result.message)).toEqual(
      SECRETS.map((name) => `secret "${name}" is declared in secrets.yaml but missing in Secrets Manager (us-east-1)`),
    );
    const passed = results.map((result) => result.message.replace(/Looprail-[\w-]+/g, 'Looprail-…'));
    expect(passed).toEqual([
      // Over one page of ListStackResources (100): the doctor reads them all.
      `stack Looprail (CREATE_COMPLETE): ${Object.keys(box.template.resources).length} resources in us-east-1`,
      expect.any(String),
      expect.any(String),
      `approval sender ${SENDER} is verified in SES (as ${SENDER})`,
      'SES has production access',
      'skill ci-triage-runbook@2.0.0 is published',
      expect.stringMatching(/^MCP server ci-reports \(Looprail-…\) answers: [1-9]\d* tools$/),
      expect.stringMatching(/^MCP server team-memory \(Looprail-…\) answers: [1-9]\d* tools$/),
      'schedule Looprail-… is enabled (cron(0 6 ? * MON-FRI *) Europe/Paris)',
    ]);
    expect(box.iam.denials).toEqual([]);
    expect(box.gateway.unknownOperations).toEqual([]);
  });

  it('passes the secrets once they are set in Secrets Manager', async () => {
    for (const name of SECRETS) box.gateway.secrets.create(name, `value of ${name}`);
    const { ok, results, lines } = await doctor();
    expect(failures(results)).toEqual([]);
    expect(ok).toBe(true);
    expect(lines).toContain('✓ secret "anthropic-api-key" exists');
    expect(lines.at(-1)).toBe('9 checks passed');
    expect(box.iam.denials).toEqual([]);
  });

  it('fails the sender check when SES no longer has the sender verified', async () => {
    box.gateway.sesIdentities.unverify(SENDER);
    try {
      const { ok, results } = await doctor();
      expect(ok).toBe(false);
      expect(failures(results)).toEqual([
        {
          status: 'fail',
          message: `approval sender ${SENDER} is not verified in SES: ${SENDER} is PENDING, example.com is not an SES identity`,
          fix: `verify it: \`aws sesv2 create-email-identity --email-identity ${SENDER}\` and open the link SES mails, or verify the domain example.com (its DKIM records)`,
        },
      ]);
    } finally {
      box.gateway.sesIdentities.verify(SENDER);
    }
    expect(box.iam.denials).toEqual([]);
  });

  it('reads the stack as CloudFormation and Lambda answer: outputs, physical ids over pages, function configuration', async () => {
    const { cloudformation, lambda } = clientsAs(DOCTOR);
    const { template } = box;
    const [stack] = (await cloudformation.send(new DescribeStacksCommand({ StackName: 'Looprail' }))).Stacks!;
    expect(Object.fromEntries(stack!.Outputs!.map((each) => [each.OutputKey, each.OutputValue]))).toEqual({
      TableName: template.output('TableName'),
      AgentRunStateMachineArn: template.output('AgentRunStateMachineArn'),
      ApiUrl: template.output('ApiUrl'),
    });
    const first = await cloudformation.send(new ListStackResourcesCommand({ StackName: 'Looprail' }));
    expect(first.StackResourceSummaries).toHaveLength(100);
    const second = await cloudformation.send(
      new ListStackResourcesCommand({ StackName: 'Looprail', NextToken: first.NextToken }),
    );
    expect(second.NextToken).toBeUndefined();
    const all = [...first.StackResourceSummaries!, ...second.StackResourceSummaries!];
    expect(all.map((each) => each.LogicalResourceId)).toEqual(Object.keys(template.resources));
    const [table] = template.ofType('AWS::DynamoDB::Table');
    const [step] = template.ofType('AWS::Lambda::Function');
    for (const id of [table!, step!])
      expect(all.find((each) => each.LogicalResourceId === id)).toMatchObject({
        ResourceType: template.resources[id]!.Type,
        PhysicalResourceId: template.ref(id),
      });
    const configuration = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: template.ref(step!) }));
    expect(configuration.Description).toBe(template.properties(step!).Description);
    await expect(
      lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'Looprail-NoSuchFunction' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(box.iam.denials).toEqual([]);
  });

  it('names the policy to attach when the caller may not read the stack', async () => {
    const { ok, results } = await doctor(NOBODY);
    expect(ok).toBe(false);
    expect(results).toHaveLength(1);
    expect(results[0]!.message).toMatch(
      /^stack Looprail: refused \(AccessDenied: User: .*user\/nobody is not authorized/,
    );
    expect(results[0]!.fix).toContain('looprail doctor --print-policy');
  });
});
