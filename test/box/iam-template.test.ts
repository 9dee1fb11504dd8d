import { beforeAll, describe, expect, it } from 'vitest';
import { IamAuthority } from './iam.ts';
import { schedulesOf } from './services/scheduler.ts';
import type { BoxAccount, BoxRole } from './model.ts';
import { synth } from './synth.ts';
import { BoxTemplate } from './template.ts';

/**
 * The IAM authority on the default org's synthesized template: the roles CDK writes, resolved by
 * the box's template reader, evaluated as AWS would (no hand-written allow-list).
 */

let template: BoxTemplate;
let iam: IamAuthority;
let roles: BoxRole[];

beforeAll(async () => {
  const synthesized = await synth();
  const account: BoxAccount = {
    accountId: synthesized.account,
    region: synthesized.region,
    partition: 'aws',
    stackName: synthesized.stackName,
  };
  template = BoxTemplate.read(synthesized.outDir, account, 'test');
  roles = template.roles();
  iam = new IamAuthority({ account, roles, resourcePolicies: template.resourcePolicies() });
}, 300_000);

const roleOf = (prefix: string): BoxRole => {
  const found = roles.find((each) => each.logicalId.startsWith(prefix));
  if (!found)
    throw new Error(`no role ${prefix}* in the template (roles: ${roles.map((each) => each.logicalId).join(', ')})`);
  return found;
};
const only = (type: string) => {
  const [logicalId] = template.ofType(type);
  if (!logicalId) throw new Error(`the template has no ${type}`);
  return logicalId;
};
const ask = (role: BoxRole, action: string, resources: string[]) =>
  iam.authorize({ accessKeyId: iam.credentialsFor(role.arn).accessKeyId, action, resources });

describe('the IAM authority on the synthesized default org', () => {
  it('lets the ToolStep role query the run table and refuses it a Scan, recorded by role and action', async () => {
    const table = template.arn(only('AWS::DynamoDB::Table'));
    const toolStep = roleOf('StepsToolStepRole');
    expect(await ask(toolStep, 'dynamodb:Query', [table])).toMatchObject({ allowed: true });
    expect(await ask(toolStep, 'dynamodb:Scan', [table])).toMatchObject({
      allowed: false,
      reason: 'because no identity-based policy allows the dynamodb:Scan action',
    });
    expect(iam.denials.at(-1)).toMatchObject({ roleArn: toolStep.arn, action: 'dynamodb:Scan', resource: table });
  });

  it('lets only the approvals handler send task results to the run state machine, and read the signing key', async () => {
    const machine = template.ref(only('AWS::StepFunctions::StateMachine'));
    const signingKey = template.arn(only('AWS::SecretsManager::Secret'));
    const handler = roleOf('ApprovalsHandlerRole');
    expect(await ask(handler, 'states:SendTaskSuccess', [machine])).toMatchObject({ allowed: true });
    expect(await ask(handler, 'secretsmanager:GetSecretValue', [signingKey])).toMatchObject({ allowed: true });
    expect(await ask(roleOf('ApprovalsRemindersRole'), 'states:SendTaskSuccess', [machine])).toMatchObject({
      allowed: false,
    });
  });

  it('lets a step role assume the per-agent role whose trust policy names it, and not the HTTP app', async () => {
    const agent = roleOf('StepsAgentsRolemorningtriage');
    const startRun = iam.credentialsFor(roleOf('StepsStartRunRole').arn);
    const assumed = await iam.assumeRole({
      accessKeyId: startRun.accessKeyId,
      roleArn: agent.arn,
      sessionName: 'run-1',
    });
    expect(assumed).toMatchObject({ assumedRoleArn: expect.stringContaining(`:assumed-role/${agent.name}/run-1`) });
    const httpApp = iam.credentialsFor(roleOf('HttpAppRole').arn);
    const refused = await iam.assumeRole({ accessKeyId: httpApp.accessKeyId, roleArn: agent.arn, sessionName: 'x1' });
    expect(refused).toMatchObject({ allowed: false });
    expect(iam.denials.at(-1)).toMatchObject({
      roleArn: roleOf('HttpAppRole').arn,
      action: 'sts:AssumeRole',
      resource: agent.arn,
    });
  });

  it("lets each schedule's role invoke the function it targets", async () => {
    const schedules = schedulesOf(template);
    expect(schedules.map((each) => each.state)).toContain('ENABLED');
    for (const schedule of schedules) {
      const role = roles.find((each) => each.arn === schedule.target.roleArn);
      expect(role, `${schedule.name}: its RoleArn ${schedule.target.roleArn} is a template role`).toBeDefined();
      expect(await ask(role!, 'lambda:InvokeFunction', [schedule.target.arn])).toMatchObject({ allowed: true });
    }
  });
});
