/**
 * The CDK app (cdk.json: `node infra/app.ts`). Validates the GitOps folder first: every
 * problem is printed, and any error stops here with exit code 1, so nothing is deployed
 * from a definition that fails `looprail validate`.
 *
 * Context (cdk.json or `-c key=value`):
 *   looprail:agents            the org folder, relative to the working directory (default: agents)
 *   looprail:stackName         default: Looprail
 *   looprail:logRetentionDays  CloudWatch Logs retention of every log group (default: 30)
 *   looprail:traceTtlDays      days before run messages and traces expire (default: 90)
 *   looprail:logLevel          debug | info | warn | error (default: info)
 *   looprail:otlpEndpoint      OTLP/HTTP traces URL finished runs are exported to (default: none)
 *   looprail:otlpHeadersSecret Secrets Manager secret (by name) with the collector's auth headers, `name=value,…`
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { formatProblem, loadOrgFolder } from '../adapters/catalog/fs-loader.ts';
import type { LogLevel } from './constructs/step-functions.ts';
import { LooprailChecks } from './nag/looprail-checks.ts';
import { DEFAULT_LOG_RETENTION_DAYS, DEFAULT_TRACE_TTL_DAYS, LooprailStack } from './stacks/looprail-stack.ts';

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

const app = new App();

const agentsDir = stringContext('looprail:agents', 'agents');
const { catalog, problems } = await loadOrgFolder(agentsDir);
for (const problem of problems) console.error(formatProblem(problem));
const errors = problems.filter((problem) => problem.severity === 'error').length;
if (errors > 0 || !catalog) {
  console.error(
    `looprail: ${agentsDir} has ${errors} error${errors === 1 ? '' : 's'}; nothing was synthesized or deployed.`,
  );
  process.exit(1);
}

const logLevel = stringContext('looprail:logLevel', 'info');
if (!LOG_LEVELS.includes(logLevel as LogLevel))
  fail(`looprail:logLevel: expected one of ${LOG_LEVELS.join(', ')} (got ${logLevel})`);

try {
  new LooprailStack(app, stringContext('looprail:stackName', 'Looprail'), {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    catalog,
    orgDir: agentsDir,
    logRetentionDays: numberContext('looprail:logRetentionDays', DEFAULT_LOG_RETENTION_DAYS),
    traceTtlDays: numberContext('looprail:traceTtlDays', DEFAULT_TRACE_TTL_DAYS),
    logLevel: logLevel as LogLevel,
    otlp: otlpContext(),
  });
} catch (error) {
  // Bad settings (a retention CloudWatch does not offer, a placeholder without a function): one line, no stack trace.
  fail(error instanceof Error ? error.message : String(error));
}

// cdk-nag 3 runs as a policy-validation plugin: any unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new LooprailChecks(app));

app.synth();

function stringContext(key: string, fallback: string): string {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value !== 'string') fail(`${key}: expected a string (got ${JSON.stringify(value)})`);
  return value;
}

function numberContext(key: string, fallback: number): number {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return fallback;
  // `-c key=30` arrives as the string "30".
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number))
    fail(`${key}: expected a whole number (got ${JSON.stringify(value)})`);
  return number;
}

function fail(message: string): never {
  console.error(`looprail: ${message}`);
  process.exit(1);
}

function otlpContext(): { endpoint: string; headersSecret?: string } | undefined {
  const endpoint = stringContext('looprail:otlpEndpoint', '');
  const headersSecret = stringContext('looprail:otlpHeadersSecret', '');
  if (!endpoint)
    return headersSecret ? fail('looprail:otlpHeadersSecret is set without looprail:otlpEndpoint') : undefined;
  return headersSecret ? { endpoint, headersSecret } : { endpoint };
}
