import { parseArgs } from 'node:util';
import { startDynamoDbLocal } from '../../cli/local/dynamodb-local.ts';
import { OPERATOR, StackInABox } from './box.ts';
import { synth } from './synth.ts';

/**
 * `npm run box [-- --org <folder>] [--fire] [--sandboxes]`: synthesizes the stack, deploys it into a box
 * on this machine (no AWS account), optionally fires every schedule once, prints what ran
 * and every refused AWS call, and keeps serving the HTTP API until Ctrl-C. `--sandboxes` runs a
 * real sandbox agent for each ECS task (root only: the agent drops to its own uid). A development
 * tool: it uses an AGPL-licensed IAM evaluator and is never shipped.
 */

const { values } = parseArgs({
  options: {
    org: { type: 'string', default: 'agents' },
    fire: { type: 'boolean', default: false },
    sandboxes: { type: 'boolean', default: false },
    sender: { type: 'string', default: 'looprail@example.com' },
  },
});

const dynamodb = await startDynamoDbLocal({ inMemory: true });
console.log(`synthesizing ${values.org} …`);
const synthesized = await synth({ org: values.org, context: { approvalSender: values.sender } });
const box = await StackInABox.deploy({
  ...synthesized,
  dynamodbUrl: dynamodb.endpoint,
  verifiedIdentities: [values.sender],
  sandboxes: values.sandboxes,
});
const operator = box.userCredentials(OPERATOR);
console.log(`deployed ${synthesized.stackName} (${box.lambdas.list().length} functions) from ${synthesized.outDir}`);
console.log(`HTTP API   ${box.api.url}   (IAM routes: sign for execute-api in ${synthesized.region})`);
console.log(`operator   AWS_ACCESS_KEY_ID=${operator.accessKeyId} AWS_SECRET_ACCESS_KEY=${operator.secretAccessKey}`);
console.log(`AWS calls  ${box.gateway.url}   logs in ${box.workDir}/logs`);

if (values.fire) {
  for (const schedule of box.schedules.list()) {
    const fired = await box.schedules.fire(schedule.logicalId);
    console.log(
      `schedule ${schedule.name}: ${fired.ok ? 'fired' : `${fired.error.errorType}: ${fired.error.errorMessage}`}`,
    );
  }
  await box.stepFunctions.settled();
  for (const execution of box.stepFunctions.executions.values())
    console.log(`execution ${execution.name}: ${execution.status}${execution.error ? ` ${execution.error}` : ''}`);
}
for (const denial of box.denials)
  console.log(`DENIED ${denial.principalArn ?? '(unknown caller)'} ${denial.action} on ${denial.resource}`);
console.log(box.denials.length === 0 ? 'no AWS call was refused' : `${box.denials.length} AWS calls were refused`);

const stop = async () => {
  await box.close();
  await dynamodb.stop();
  process.exit(box.denials.length === 0 ? 0 : 1);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
if (!process.stdout.isTTY) await stop();
