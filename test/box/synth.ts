import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { node22 } from './lambdas.ts';

/**
 * `cdk synth`, as a person deploying runs it: the project's own CDK CLI and app (cdk.json),
 * an org folder and context, offline. The box deploys what this writes to cdk.out.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CDK = join(ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk');

export interface SynthOptions {
  /** The org folder, relative to the project root (default: agents). */
  org?: string;
  stackName?: string;
  account?: string;
  region?: string;
  /** More `-c key=value` context (e.g. approvalSender). */
  context?: Record<string, string>;
  outDir?: string;
  /**
   * Leave the account and Region to CloudFormation (no CDK_DEFAULT_ACCOUNT/REGION), as for a
   * stack whose VPC would otherwise need an availability-zone lookup with AWS credentials.
   */
  environmentAgnostic?: boolean;
}

export interface Synthesized {
  outDir: string;
  stackName: string;
  account: string;
  region: string;
}

export async function synth(options: SynthOptions = {}): Promise<Synthesized> {
  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'looprail-box-cdk-'));
  const stackName = options.stackName ?? 'Looprail';
  const account = options.account ?? '123456789012';
  const region = options.region ?? 'us-east-1';
  const context = { 'looprail:agents': options.org ?? 'agents', 'looprail:stackName': stackName, ...options.context };
  const args = [CDK, 'synth', '--quiet', '--no-notices', '-o', outDir];
  for (const [key, value] of Object.entries(context)) args.push('-c', `${key}=${value}`);
  const node = node22();
  try {
    await promisify(execFile)(node, args, {
      cwd: ROOT,
      env: {
        ...process.env,
        // cdk.json runs `node infra/app.ts`: the same Node 22 first on PATH.
        PATH: `${join(node, '..')}:${process.env.PATH ?? ''}`,
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        ...(options.environmentAgnostic ? {} : { CDK_DEFAULT_ACCOUNT: account, CDK_DEFAULT_REGION: region }),
      },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const failure = error as Error & { stderr?: string; stdout?: string };
    throw new Error(`cdk synth failed:\n${failure.stderr ?? ''}${failure.stdout ?? ''}`);
  }
  return { outDir, stackName, account, region };
}

/** An IAM policy statement of a synthesized template, as much of it as the tests read. */
export interface TemplateStatement {
  Action?: unknown;
  Resource?: unknown;
}

/**
 * A copy of a synthesized stack with some IAM policy statements taken out, as a half-finished
 * change would leave it: `drop` is asked of each statement of each AWS::IAM::Policy, with the
 * policy's logical id. Returns the copy to deploy and how many statements went.
 */
export function withoutStatements(
  synthesized: Synthesized,
  drop: (statement: TemplateStatement, policyId: string) => boolean,
): { synthesized: Synthesized; removed: number } {
  const outDir = mkdtempSync(join(tmpdir(), 'looprail-box-edited-'));
  cpSync(synthesized.outDir, outDir, { recursive: true });
  const path = join(outDir, `${synthesized.stackName}.template.json`);
  const template = JSON.parse(readFileSync(path, 'utf8'));
  let removed = 0;
  for (const [id, resource] of Object.entries<any>(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const statements: TemplateStatement[] = resource.Properties.PolicyDocument.Statement;
    const kept = statements.filter((statement) => !drop(statement, id));
    removed += statements.length - kept.length;
    resource.Properties.PolicyDocument.Statement = kept;
  }
  writeFileSync(path, JSON.stringify(template));
  return { synthesized: { ...synthesized, outDir }, removed };
}
