import { startDynamoDbLocal } from '../cli/local/dynamodb-local.ts';
import { StackInABox } from '../test/box/box.ts';
import { synth } from '../test/box/synth.ts';

/**
 * The default org deployed into the stack in a box (test/box/): its schedule fires once and
 * the run goes through every bundle from cdk.out under the template's IAM. Reports the AWS
 * calls the bundles made per loop iteration (one ModelStep invocation, maker or checker) by
 * service, how many IAM refused (must be 0), and each bundle's cold start (a fresh Node 22
 * process importing its asset, as Lambda's init phase does).
 */

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

export async function boxRun() {
  const dynamodb = await startDynamoDbLocal({ inMemory: true });
  const synthesized = await synth({ context: { approvalSender: 'looprail@example.com' } });
  const box = await StackInABox.deploy({
    ...synthesized,
    dynamodbUrl: dynamodb.endpoint,
    verifiedIdentities: ['example.com'],
    retryIntervalMs: 0,
  });
  try {
    const deployCalls = box.gateway.calls.length;
    const [schedule] = box.schedules.list();
    const started = performance.now();
    await box.schedules.fire(schedule!.logicalId);
    await box.stepFunctions.settled();
    const runMs = performance.now() - started;
    const iterations = box.lambdas.invocations.filter((each) => each.function.includes('ModelStep')).length;
    const byService: Record<string, number> = {};
    for (const call of box.gateway.calls.slice(deployCalls))
      byService[call.service] = (byService[call.service] ?? 0) + 1;
    const coldStarts: Record<string, number> = {};
    for (const start of box.lambdas.coldStarts) coldStarts[start.function] ??= round(start.initMs);
    const [execution] = box.stepFunctions.executions.values();
    return {
      execution_status: execution?.status,
      iterations,
      run_ms: round(runMs),
      aws_calls_per_iteration: Object.fromEntries(
        Object.entries(byService)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([service, count]) => [service, round(count / Math.max(1, iterations), 2)]),
      ),
      aws_calls_total: Object.values(byService).reduce((sum, count) => sum + count, 0),
      denied_calls: box.denials.length,
      cold_start_ms: coldStarts,
    };
  } finally {
    await box.close();
    await dynamodb.stop();
  }
}

export function boxMarkdown(figures: Awaited<ReturnType<typeof boxRun>>): string {
  const services = Object.entries(figures.aws_calls_per_iteration);
  const bundles = Object.entries(figures.cold_start_ms).sort(([a], [b]) => a.localeCompare(b));
  return `
## The deployed stack, in a box

The default org synthesized and deployed into the stack in a box (\`npm run box\`): its schedule fired once; the run ended \`${figures.execution_status}\` after ${figures.iterations} ModelStep invocations (maker and checker) in ${figures.run_ms} ms, every AWS call checked against the template's IAM. **Refused calls: ${figures.denied_calls}.**

| service | AWS calls per iteration |
|---|---|
${services.map(([service, count]) => `| ${service} | ${count} |`).join('\n')}
| all (${figures.aws_calls_total} calls) | ${services.reduce((sum, [, count]) => round(sum + count, 2), 0)} |

Cold start per bundle (process start + import of the cdk.out asset, first container of each function):

| function | cold start |
|---|---|
${bundles.map(([fn, ms]) => `| ${fn} | ${ms} ms |`).join('\n')}
`;
}
