import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { GetScheduleCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetAccountCommand, GetEmailIdentityCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import type { SkillPin } from '../../core/definitions/skills.ts';
import type { SkillStore } from '../../core/ports/skill-store.ts';
import { parseRange, parseVersion, satisfies } from '../../core/skills/semver.ts';
import type { HostRequest, HostResponse } from '../../adapters/mcp/host-protocol.ts';
import { type CheckResult, errorName, fail, failedCall, ok, warn } from './report.ts';
import { type DeployedFunction, type DeployedStack, physicalIds, readFunctions, readStack } from './stack.ts';

/**
 * The checks of `looprail doctor`, in the order a person fixes things: the stack, the secrets
 * it reads, the approval sender, the skills it pins, the MCP hosts, the schedules. Each check
 * turns what AWS answers into a CheckResult with what to do; one that cannot be made (refused,
 * not found) is a failure too, never skipped in silence.
 */

export interface DoctorClients {
  cloudformation: CloudFormationClient;
  lambda: LambdaClient;
  secretsManager: SecretsManagerClient;
  ses: SESv2Client;
  scheduler: SchedulerClient;
  /** The skills registry on the stack's run table. */
  skills(tableName: string): SkillStore;
}

/** What the org folder declares: what the deployed stack should have. */
export interface DeclaredOrg {
  secrets: string[];
  pins: SkillPin[];
}

export interface DoctorTarget {
  stackName: string;
  region: string;
}

export const SKILLS_RESOURCE_TYPE = 'Custom::LooprailSkills';
export const MCP_HOST_DESCRIPTION = /^MCP host of ([^:]+):/;

export async function runDoctor(
  clients: DoctorClients,
  org: DeclaredOrg,
  target: DoctorTarget,
): Promise<CheckResult[]> {
  let stack: DeployedStack;
  try {
    stack = await readStack(clients.cloudformation, target.stackName);
  } catch (error) {
    if (errorName(error) === 'ValidationError')
      return [
        fail(
          `stack ${target.stackName} not found in ${target.region}`,
          'deploy it (`npx cdk deploy`, README Deploying), or name it with --stack and --region',
        ),
      ];
    return [failedCall(`stack ${target.stackName}`, error)];
  }
  const results: CheckResult[] = [
    ok(`stack ${stack.name} (${stack.status}): ${stack.resources.length} resources in ${target.region}`),
  ];
  let functions: DeployedFunction[] = [];
  try {
    functions = await readFunctions(clients.lambda, stack);
  } catch (error) {
    results.push(failedCall("reading the stack's functions", error));
  }
  results.push(...(await checkSecrets(clients.secretsManager, org.secrets, target.region)));
  results.push(...(await checkSender(clients.ses, functions)));
  results.push(...(await checkSkills(clients, stack, org.pins)));
  results.push(...(await checkMcpHosts(clients.lambda, functions)));
  results.push(...(await checkSchedules(clients.scheduler, stack)));
  return results;
}

export async function checkSecrets(
  client: SecretsManagerClient,
  names: string[],
  region: string,
): Promise<CheckResult[]> {
  return Promise.all(
    [...names].sort().map(async (name) => {
      try {
        await client.send(new DescribeSecretCommand({ SecretId: name }));
        return ok(`secret "${name}" exists`);
      } catch (error) {
        if (errorName(error) !== 'ResourceNotFoundException') return failedCall(`secret "${name}"`, error);
        return fail(
          `secret "${name}" is declared in secrets.yaml but missing in Secrets Manager (${region})`,
          `set it: \`looprail secrets set ${name} --aws --region ${region} < file-with-the-value\``,
        );
      }
    }),
  );
}

/** The approval sender (`LOOPRAIL_MAIL_FROM` on the approval functions), verified as itself or its domain; and the SES sandbox. */
export async function checkSender(client: SESv2Client, functions: DeployedFunction[]): Promise<CheckResult[]> {
  const sender = functions.map((fn) => fn.environment.LOOPRAIL_MAIL_FROM).find((value) => value);
  if (!sender)
    return [
      warn(
        'no approval sender is configured: approval requests are not mailed',
        'deploy with `-c approvalSender=<address>` (an address or domain verified in SES)',
      ),
    ];
  const address = (/<([^>]+)>/.exec(sender)?.[1] ?? sender).trim();
  const domain = address.split('@')[1] ?? '';
  const results: CheckResult[] = [];
  const states: string[] = [];
  let verifiedAs: string | undefined;
  for (const identity of [address, domain].filter(Boolean)) {
    try {
      const found = await client.send(new GetEmailIdentityCommand({ EmailIdentity: identity }));
      if (found.VerifiedForSendingStatus) verifiedAs ??= identity;
      else states.push(`${identity} is ${found.VerificationStatus ?? 'not verified'}`);
    } catch (error) {
      if (errorName(error) !== 'NotFoundException') return [failedCall(`SES identity ${identity}`, error)];
      states.push(`${identity} is not an SES identity`);
    }
  }
  results.push(
    verifiedAs
      ? ok(`approval sender ${address} is verified in SES (as ${verifiedAs})`)
      : fail(
          `approval sender ${address} is not verified in SES: ${states.join(', ')}`,
          `verify it: \`aws sesv2 create-email-identity --email-identity ${address}\` and open the link SES mails, or verify the domain ${domain} (its DKIM records)`,
        ),
  );
  try {
    const account = await client.send(new GetAccountCommand({}));
    results.push(
      account.ProductionAccessEnabled
        ? ok('SES has production access')
        : warn(
            'SES is in the sandbox: approval mails reach only verified addresses, at most 200 a day',
            'request production access (SES console, Account dashboard, or `aws sesv2 put-account-details`)',
          ),
    );
  } catch (error) {
    results.push(failedCall('SES account', error));
  }
  return results;
}

/** Every pinned skill version is in the stack's registry (the skills custom resource published them at deploy). */
export async function checkSkills(
  clients: DoctorClients,
  stack: DeployedStack,
  pins: SkillPin[],
): Promise<CheckResult[]> {
  if (pins.length === 0) return [];
  const redeploy = `redeploy (\`npx cdk deploy\`): the stack publishes the pinned skills at deploy; if it did, read the ${SKILLS_RESOURCE_TYPE} function's log`;
  if (physicalIds(stack, SKILLS_RESOURCE_TYPE).length === 0)
    return [fail(`the stack has no ${SKILLS_RESOURCE_TYPE} resource: nothing publishes its pinned skills`, redeploy)];
  const tableName = stack.outputs.TableName;
  if (!tableName) return [fail(`stack ${stack.name} has no TableName output`, redeploy)];
  const store = clients.skills(tableName);
  return Promise.all(
    pins.map(async (pin) => {
      const ref = `${pin.name}@${pin.range}`;
      try {
        if (pin.version !== undefined) {
          const record = await store.getVersion(pin.name, pin.version);
          if (!record) return fail(`skill ${ref} (${pin.version}) is not in the skills registry`, redeploy);
          const locked = pin.sha256?.replace(/^sha256:/, '');
          if (locked !== undefined && locked !== record.sha256)
            return fail(
              `skill ${ref}: the registry's ${pin.version} (sha256:${record.sha256}) is not the locked sha256:${locked}`,
              'a published version never changes: raise the skill version and run `looprail lock`, then redeploy',
            );
          return ok(`skill ${pin.name}@${pin.version} is published`);
        }
        const range = parseRange(pin.range);
        const match = (await store.listVersions(pin.name)).find(
          (each) => range && satisfies(parseVersion(each.version)!, range),
        );
        return match
          ? ok(`skill ${ref} is published (${match.version})`)
          : fail(`no version of skill ${ref} is in the skills registry`, redeploy);
      } catch (error) {
        return failedCall(`skill ${ref}`, error);
      }
    }),
  );
}

/** Each MCP host function answers the host protocol's listTools. */
export async function checkMcpHosts(client: LambdaClient, functions: DeployedFunction[]): Promise<CheckResult[]> {
  const hosts = functions
    .map((fn) => ({ fn, server: MCP_HOST_DESCRIPTION.exec(fn.description)?.[1] }))
    .filter((each): each is { fn: DeployedFunction; server: string } => each.server !== undefined)
    .sort((a, b) => a.server.localeCompare(b.server));
  return Promise.all(
    hosts.map(async ({ fn, server }) => {
      const what = `MCP server ${server} (${fn.name})`;
      const logs = `read the function's log (CloudWatch Logs, /aws/lambda/${fn.name}), fix, redeploy`;
      try {
        const request: HostRequest = { op: 'listTools' };
        const output = await client.send(
          new InvokeCommand({ FunctionName: fn.name, Payload: Buffer.from(JSON.stringify(request)) }),
        );
        const text = output.Payload ? Buffer.from(output.Payload).toString('utf8') : '';
        if (output.FunctionError)
          return fail(`${what}: its host failed (${output.FunctionError}): ${text.slice(0, 300)}`, logs);
        const answer = JSON.parse(text) as HostResponse;
        if (!answer.ok) return fail(`${what}: ${answer.error.name}: ${answer.error.message}`, logs);
        if (!('tools' in answer)) return fail(`${what}: answered listTools outside the host protocol`, logs);
        return ok(`${what} answers: ${answer.tools.length} tool${answer.tools.length === 1 ? '' : 's'}`);
      } catch (error) {
        return failedCall(what, error);
      }
    }),
  );
}

export async function checkSchedules(client: SchedulerClient, stack: DeployedStack): Promise<CheckResult[]> {
  return Promise.all(
    physicalIds(stack, 'AWS::Scheduler::Schedule').map(async (name) => {
      try {
        const schedule = await client.send(new GetScheduleCommand({ Name: name }));
        const when = `${schedule.ScheduleExpression}${schedule.ScheduleExpressionTimezone ? ` ${schedule.ScheduleExpressionTimezone}` : ''}`;
        return schedule.State === 'ENABLED'
          ? ok(`schedule ${name} is enabled (${when})`)
          : fail(
              `schedule ${name} is ${schedule.State ?? 'in an unknown state'} (${when})`,
              'enable it in the EventBridge Scheduler console, or redeploy (`npx cdk deploy`) to restore the template',
            );
      } catch (error) {
        return failedCall(`schedule ${name}`, error);
      }
    }),
  );
}
