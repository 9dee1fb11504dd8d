import { AssetHashType, DockerImage, RemovalPolicy, Validations, type Duration } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal, type IGrantable, type IPrincipal } from 'aws-cdk-lib/aws-iam';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { Architecture, Code, Function as LambdaFunction, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FunctionEnvironment } from '../../functions/_shared/env-contract.ts';
import { acknowledgeWildcardResource } from '../nag/acknowledge.ts';
import { buildSync, type BuildOptions, type BuildResult } from 'esbuild';
import { cpSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The repository root: entries, package-lock.json and tsconfig.json are found from here. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Lets an ESM bundle `require()` the CommonJS dependencies esbuild cannot convert
 * (the AWS SDK's and zod's transitive deps, Node built-ins required dynamically).
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __looprailCreateRequire } from 'node:module'; const require = __looprailCreateRequire(import.meta.url);";

/**
 * How looprail bundles a Node program with esbuild's own API (the sandbox images, the
 * bench): what HandlerFunction's bundling gives CDK, in esbuild's terms.
 */
export const NODE22_ESM_BUNDLE = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  mainFields: ['module', 'main'],
  minify: true,
  banner: { js: ESM_REQUIRE_BANNER },
} as const;

/**
 * What a Lambda bundle leaves to the runtime: Lambda's Node 22 runtime carries the AWS SDK v3
 * (every `@aws-sdk/*` client and lib-dynamodb, credential-providers, with their `@smithy/*`
 * dependencies) and resolves it for ES modules too, so the bundles hold only looprail's code
 * and its other dependencies (about 450 KB less per handler).
 *
 * The pin, as a floor: the deployed code needs an SDK whose Bedrock Converse knows prompt
 * caching (`cachePoint` blocks and the `cacheReadInputTokens`/`cacheWriteInputTokens` usage
 * the spend is priced from, adapters/models/bedrock.ts; Bedrock made caching generally
 * available in April 2025). The functions take Lambda's automatic runtime updates, which
 * only move the runtime's SDK forward (its version per runtime: "Runtime-included SDK
 * versions" at docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html); a deployment that
 * pins an older runtime version must check it there. Everything else used is older: DynamoDB transactions and the document client,
 * Step Functions task tokens, SESv2 SendEmail, EventBridge PutEvents, Secrets Manager
 * GetSecretValue, Lambda Invoke, STS AssumeRole through fromTemporaryCredentials.
 * Tests and the local host run the SDK from package-lock.json; test/box runs the bundles
 * against it resolved the way the runtime resolves its own.
 */
export const LAMBDA_RUNTIME_EXTERNALS = ['@aws-sdk/*'] as const;

/**
 * The runtime SDK packages every step loads at init, aliased to shims that `require()` them
 * (infra/constructs/runtime-sdk/): esbuild would emit an ESM `import` of the runtime's
 * CommonJS package, which makes Node's ESM loader detect each of its files' format and scan
 * its exports, about a quarter of the SDK's import (bench/report.md, "The runtime SDK's
 * share"). The clients loaded on first use (`adapters/aws/on-first-use.ts`) keep their
 * dynamic `import()`, off the cold start's path, though it costs each 20-50 ms CPU more than
 * `require()` at that first use: a shim for them would need a test of its names, since
 * esbuild checks the names of static imports only, not those taken from a dynamic import.
 */
export const LAMBDA_RUNTIME_SDK_REQUIRES: Readonly<Record<string, string>> = {
  '@aws-sdk/client-dynamodb': fileURLToPath(new URL('./runtime-sdk/client-dynamodb.ts', import.meta.url)),
  '@aws-sdk/lib-dynamodb': fileURLToPath(new URL('./runtime-sdk/lib-dynamodb.ts', import.meta.url)),
};

/**
 * Packages every Lambda bundle replaces (esbuild's `alias`): the runtime SDK's shims above,
 * and stand-ins for ajv and ajv-formats. The MCP SDK's Client and Server import those two
 * (about 130 KB minified) for their default validator even when given another, and looprail
 * gives them its own (adapters/mcp/output-schemas.ts), so the bundles that call tools would
 * carry ajv unused. The stand-ins fail with what to change if anything compiles a schema
 * with the default.
 */
export const LAMBDA_BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  ...LAMBDA_RUNTIME_SDK_REQUIRES,
  ajv: fileURLToPath(new URL('./bundle-stubs/ajv.ts', import.meta.url)),
  'ajv-formats': fileURLToPath(new URL('./bundle-stubs/ajv-formats.ts', import.meta.url)),
};

/** What a construct adds to a handler's asset. */
export interface HandlerBundling {
  /** esbuild `define`: the catalog as a literal (step-functions.ts `catalogBundling`). */
  readonly define?: Record<string, string>;
  /** esbuild `inject`: the catalog as a module, when it is too large for a define. */
  readonly inject?: string[];
  /** Files and folders copied into the asset once the bundle is written (`to` from the asset's root). */
  readonly files?: ReadonlyArray<{ readonly from: string; readonly to: string }>;
}

/**
 * A handler's bundle, as every Lambda ships it: `index.mjs` with what its init evaluates,
 * and beside it a chunk for each `import()` only some paths reach (the MCP SDK's client, for
 * a server the step connects to itself; zod classic, which only that client uses). Node
 * loads such a chunk at that first use, so a cold start reads and compiles only what it runs
 * (docs/architecture.md, "One application, two hosts"). Code both need goes in a chunk that
 * `index.mjs` imports. Source maps sit beside each file, without the sources.
 */
export const LAMBDA_BUNDLE = {
  ...NODE22_ESM_BUNDLE,
  mainFields: [...NODE22_ESM_BUNDLE.mainFields],
  external: [...LAMBDA_RUNTIME_EXTERNALS],
  alias: { ...LAMBDA_BUNDLE_ALIASES },
  splitting: true,
  chunkNames: 'chunk-[hash]',
  outExtension: { '.js': '.mjs' },
  sourcemap: true,
  sourcesContent: false,
} satisfies BuildOptions;

/** Bundles `entry` into `outdir` as LAMBDA_BUNDLE says (the stack's assets, and the bench's). */
export function bundleHandler(
  entry: string,
  outdir: string,
  options: { projectRoot: string; define?: Record<string, string>; inject?: string[] },
): BuildResult<{ metafile: true }> {
  return buildSync({
    ...LAMBDA_BUNDLE,
    entryPoints: { index: entry },
    outdir,
    tsconfig: join(options.projectRoot, 'tsconfig.json'),
    ...(options.define ? { define: options.define } : {}),
    ...(options.inject ? { inject: options.inject } : {}),
    metafile: true,
    logLevel: 'error',
  });
}

/** CDK context that makes every handler map stack traces to the TypeScript sources: `-c looprail:debug=true`. */
export const DEBUG_CONTEXT = 'looprail:debug';

/**
 * The source map ships beside every bundle, but Node parses it at import only with
 * `--enable-source-maps`: several MB per cold start, for stack traces the logs rarely need.
 * So it is on only when the app is synthesized with DEBUG_CONTEXT (or when someone sets
 * NODE_OPTIONS on a deployed function to look into a failure).
 */
function debugEnvironment(scope: Construct): Record<string, string> {
  const value: unknown = scope.node.tryGetContext(DEBUG_CONTEXT);
  if (value === undefined || value === false || value === 'false') return {};
  if (value !== true && value !== 'true') {
    throw new Error(`${DEBUG_CONTEXT}: expected true or false (got ${JSON.stringify(value)})`);
  }
  return { NODE_OPTIONS: '--enable-source-maps' };
}

export interface HandlerFunctionProps {
  /** Entry file, relative to the project root (e.g. `functions/run/start-run.ts`). */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /**
   * Built with `functionEnvironment` or `ownEnvironment` (functions/_shared/env-contract.ts), typed from
   * what the function parses: a hand-written record does not compile.
   */
  readonly environment: FunctionEnvironment;
  /** Default: ONE_MONTH. */
  readonly logRetention?: RetentionDays;
  /** Default: RETAIN, so the logs of a deleted stack can still be read until they expire. */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Extra esbuild settings (define, inject) and files copied into the asset beside the bundle. */
  readonly bundling?: HandlerBundling;
  /** Default: PROJECT_ROOT. */
  readonly projectRoot?: string;
  /** Runs the function in these subnets with these security groups. Default: outside any VPC. */
  readonly vpc?: { readonly vpc: IVpc; readonly subnets: SubnetSelection; readonly securityGroups: ISecurityGroup[] };
}

/**
 * One Lambda handler the way looprail runs them: Node 22 on ARM64, an ESM bundle made by
 * the local esbuild (minified, with source maps), JSON logs into its own log group with a
 * retention, and its own role that can write to that log group and nothing else until
 * the caller grants more. No AWSLambdaBasicExecutionRole: it would allow any log group.
 */
export class HandlerFunction extends Construct implements IGrantable {
  readonly function: LambdaFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the looprail ${id} handler: ${props.description}`,
    });
    // The log group's ARN ends in `:*` already (CloudFormation's Arn attribute), which
    // covers its log streams; it is a token here, so no wildcard shows in the policy.
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    if (props.vpc) {
      // What AWSLambdaVPCAccessExecutionRole grants, without its logs:*: Lambda manages the
      // function's network interfaces with this role.
      this.role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
      acknowledgeWildcardResource(
        this.role,
        '*',
        "Lambda creates and deletes the function's VPC network interfaces with its role: their ids do not exist before, and the EC2 describe calls take no resource.",
      );
    }

    const entry = join(projectRoot, props.entry);
    const bundling = props.bundling ?? {};
    this.function = new LambdaFunction(this, 'Function', {
      code: Code.fromAsset(projectRoot, {
        // The hash of what ships, not of the whole repository.
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          // Never pulled: the local esbuild always bundles (this machine and CI have no Docker).
          image: DockerImage.fromRegistry('looprail-bundles-locally'),
          // What the local bundler is given, as NodejsFunction states its esbuild command here: CDK
          // reuses a bundle within a synth by these options, which see no function, so they must differ.
          command: ['bundleHandler', props.entry, JSON.stringify(bundling)],
          local: {
            tryBundle(outputDir) {
              bundleHandler(entry, outputDir, { projectRoot, define: bundling.define, inject: bundling.inject });
              for (const { from, to } of bundling.files ?? []) {
                mkdirSync(dirname(join(outputDir, to)), { recursive: true });
                cpSync(from, join(outputDir, to), { recursive: true });
              }
              return true;
            },
          },
        },
      }),
      handler: 'index.handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      ...(props.vpc
        ? { vpc: props.vpc.vpc, vpcSubnets: props.vpc.subnets, securityGroups: props.vpc.securityGroups }
        : {}),
      environment: { ...debugEnvironment(this), ...props.environment },
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'looprail pins Node.js 22 on purpose: its local host and tests run the same major version as these Lambdas ' +
        '(npm installs node@22 for them), so what passes locally runs the same way on AWS.',
    });
  }

  /** Sets variables after the function is built (what other constructs add), named with `roleVariables`. */
  addEnvironment(variables: Record<string, string>): void {
    for (const [name, value] of Object.entries(variables)) this.function.addEnvironment(name, value);
  }

  get grantPrincipal(): IPrincipal {
    return this.role;
  }

  get functionArn(): string {
    return this.function.functionArn;
  }
}
