import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import type { Command } from 'commander';
import { formatProblem, loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import { hasErrors } from '../../core/definitions/problems.ts';
import type { SkillPin } from '../../core/definitions/skills.ts';
import { type DeclaredOrg, type DoctorClients, runDoctor } from '../doctor/checks.ts';
import { doctorPolicy } from '../doctor/policy.ts';
import { type CheckResult, hasFailures, reportLines } from '../doctor/report.ts';

/**
 * `looprail doctor`: checks a deployed stack with the caller's own AWS credentials (the SDK's
 * default chain) against what the org folder declares, one line per check with what to do.
 * Exit status 1 when a check fails. `--print-policy` prints the read-only policy it needs.
 */

export interface DoctorOptions {
  stack: string;
  region?: string;
  org: string;
  log: (line: string) => void;
  /** For tests; by default the SDK's clients for --region and the default credential chain. */
  clients?: DoctorClients;
}

export async function doctorCommand(options: DoctorOptions): Promise<{ ok: boolean; results: CheckResult[] }> {
  const org = await declaredOrg(options.org);
  const clients = options.clients ?? awsClients(options.region);
  const region = await clients.cloudformation.config.region();
  options.log(`looprail doctor: stack ${options.stack} in ${region}, against ${options.org}/`);
  const results = await runDoctor(clients, org, { stackName: options.stack, region });
  for (const line of reportLines(results)) options.log(line);
  return { ok: !hasFailures(results), results };
}

/** The secrets and skill pins the org folder declares; an org with problems is refused before any AWS call. */
export async function declaredOrg(orgDir: string): Promise<DeclaredOrg> {
  const { catalog, problems } = await loadOrgFolder(orgDir);
  if (!catalog || hasErrors(problems))
    throw new Error(
      `the definitions in ${orgDir} have problems (run \`looprail validate ${orgDir}\`):\n${problems
        .filter((problem) => problem.severity === 'error')
        .map(formatProblem)
        .join('\n')}`,
    );
  const pins = new Map<string, SkillPin>();
  for (const agent of Object.values(catalog.agents))
    for (const pin of agent.skillPins ?? []) pins.set(`${pin.name}@${pin.range}#${pin.version ?? ''}`, pin);
  return { secrets: [...catalog.secrets], pins: [...pins.values()] };
}

export function awsClients(region: string | undefined): DoctorClients {
  const config = region ? { region } : {};
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

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check a deployed stack with your AWS credentials: secrets exist, sender verified, skills published, MCP hosts answer, schedules enabled',
    )
    .option('--stack <name>', 'the CloudFormation stack', 'Looprail')
    .option('--region <region>', 'the Region of the stack (default: the AWS SDK default)')
    .option('--org <dir>', 'the org folder the stack was deployed from', 'agents')
    .option('--print-policy', 'print the read-only IAM policy doctor needs, and check nothing')
    .option('--account <id>', 'the account id in --print-policy (default: any)')
    .action(
      async (options: { stack: string; region?: string; org: string; printPolicy?: boolean; account?: string }) => {
        if (options.printPolicy) {
          const region = options.region ?? (await new CloudFormationClient({}).config.region());
          const policy = doctorPolicy({ region, accountId: options.account ?? '*', stackName: options.stack });
          console.log(JSON.stringify(policy, null, 2));
          return;
        }
        const { ok } = await doctorCommand({ ...options, log: (line) => console.log(line) });
        process.exitCode = ok ? 0 : 1;
      },
    );
}
