import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { runtimeSdk } from '../support/runtime-sdk.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Credentials } from './model.ts';
import type { BoxTemplate } from './template.ts';

/**
 * Lambda in a box: each function of the template is its bundled asset from cdk.out, run in
 * fresh Node 22 processes ("containers") with the environment the template gives it, the
 * role's credentials and every AWS endpoint pointed at the box. A container serves one
 * invocation at a time and is reused while warm; a busy function starts another (a cold
 * start, timed for the bench), up to its reserved concurrency, beyond which calls wait.
 * Like Lambda's Node runtimes, a container can `require` the AWS SDK v3 without bundling it
 * (CDK's own custom resource handlers do); nothing else outside the asset resolves.
 */

const WORKER = fileURLToPath(new URL('./lambda-worker.ts', import.meta.url));
/** Lambda's Node runtimes the box runs; both on this machine's Node 22 (no other Node is installed). */
const RUNTIMES = new Set(['nodejs22.x', 'nodejs24.x']);

export interface BoxFunction {
  logicalId: string;
  name: string;
  arn: string;
  roleArn: string;
  assetDir: string;
  handler: string;
  /** `nodejs22.x` or `nodejs24.x`, as the template names it. */
  runtime: string;
  environment: Record<string, string>;
  timeoutSeconds: number;
  memoryMb: number;
  reservedConcurrency: number | undefined;
  logGroupName: string | undefined;
}

export interface LambdaError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

export type InvokeResult = { ok: true; payload: unknown } | { ok: false; error: LambdaError };

export interface ColdStart {
  function: string;
  /** From spawning the process to the handler module imported (Lambda's init phase, plus process start). */
  initMs: number;
}

interface Container {
  process: ChildProcess;
  busy: boolean;
  pending?: { id: string; resolve(result: InvokeResult): void; timer: NodeJS.Timeout };
}

export interface BoxLambdasOptions {
  template: BoxTemplate;
  credentialsFor(roleArn: string): Credentials;
  /** The box's AWS endpoint (AWS_ENDPOINT_URL for every SDK client in the bundles). */
  endpointUrl: string;
  /** Where each function's stdout and stderr go (one file per function, as its log group). */
  logDir: string;
  /** Variables the box adds to every function (e.g. a model provider's base URL for tests); never secrets. */
  extraEnvironment?: Record<string, string>;
  /**
   * The box's DNS: public hosts whose HTTPS requests a container sends to a local HTTP URL
   * instead (CloudFormation's pre-signed response URLs), by host name.
   */
  hosts?: Record<string, string>;
}

export class BoxLambdas {
  readonly coldStarts: ColdStart[] = [];
  readonly invocations: { function: string; ok: boolean; ms: number }[] = [];
  private readonly functions = new Map<string, BoxFunction>();
  private readonly containers = new Map<string, Container[]>();
  private readonly waiting = new Map<string, (() => void)[]>();
  private readonly logs = new Map<string, WriteStream>();
  private readonly options: BoxLambdasOptions;
  private readonly node = node22();
  private readonly runtimeModules: string;

  constructor(options: BoxLambdasOptions) {
    this.options = options;
    mkdirSync(options.logDir, { recursive: true });
    this.runtimeModules = runtimeSdk(join(options.logDir, '..', 'runtime'));
    const { template } = options;
    for (const logicalId of template.ofType('AWS::Lambda::Function')) {
      const p = template.properties(logicalId);
      const fn: BoxFunction = {
        logicalId,
        name: template.physicalName(logicalId),
        arn: template.arn(logicalId),
        roleArn: String(p.Role),
        assetDir: template.assetPath(String(p.Code?.S3Key)),
        handler: String(p.Handler ?? 'index.handler'),
        runtime: String(p.Runtime),
        environment: Object.fromEntries(
          Object.entries((p.Environment?.Variables ?? {}) as Record<string, unknown>).map(([key, value]) => [
            key,
            String(value),
          ]),
        ),
        timeoutSeconds: Number(p.Timeout ?? 3),
        memoryMb: Number(p.MemorySize ?? 128),
        reservedConcurrency:
          p.ReservedConcurrentExecutions === undefined ? undefined : Number(p.ReservedConcurrentExecutions),
        logGroupName: p.LoggingConfig?.LogGroup ? String(p.LoggingConfig.LogGroup) : undefined,
      };
      if (!RUNTIMES.has(fn.runtime))
        throw new Error(`${logicalId}: the box runs ${[...RUNTIMES].join(' and ')}, not ${fn.runtime}`);
      this.functions.set(fn.name, fn);
    }
  }

  list(): BoxFunction[] {
    return [...this.functions.values()];
  }

  /** A function by name, ARN (with or without a qualifier) or logical id. */
  find(reference: string): BoxFunction | undefined {
    const name = reference.startsWith('arn:') ? (reference.split(':')[6] ?? '') : reference;
    return this.functions.get(name) ?? this.list().find((fn) => fn.logicalId === reference);
  }

  async invoke(reference: string, event: unknown): Promise<InvokeResult> {
    const fn = this.find(reference);
    if (!fn) throw Object.assign(new Error(`Function not found: ${reference}`), { name: 'ResourceNotFoundException' });
    const started = Date.now();
    const container = await this.container(fn);
    const result = await new Promise<InvokeResult>((resolve) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        container.process.kill('SIGKILL');
        resolve({
          ok: false,
          error: {
            errorType: 'Sandbox.Timedout',
            errorMessage: `Task timed out after ${fn.timeoutSeconds}.00 seconds`,
          },
        });
      }, fn.timeoutSeconds * 1000);
      container.pending = { id, resolve, timer };
      container.process.send({ id, event, deadline: Date.now() + fn.timeoutSeconds * 1000 });
    });
    this.release(fn, container);
    this.invocations.push({ function: fn.name, ok: result.ok, ms: Date.now() - started });
    return result;
  }

  async close(): Promise<void> {
    for (const containers of this.containers.values())
      for (const container of containers) container.process.kill('SIGKILL');
    this.containers.clear();
    await Promise.all([...this.logs.values()].map((log) => new Promise((resolve) => log.end(resolve))));
  }

  /** A warm idle container, a new one (cold start), or — at the reserved concurrency — the next one freed. */
  private async container(fn: BoxFunction): Promise<Container> {
    for (;;) {
      const containers = (this.containers.get(fn.name) ?? []).filter((each) => each.process.exitCode === null);
      this.containers.set(fn.name, containers);
      const idle = containers.find((each) => !each.busy);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (fn.reservedConcurrency === undefined || containers.length < fn.reservedConcurrency) {
        const container = await this.start(fn);
        containers.push(container);
        return container;
      }
      await new Promise<void>((resolve) => this.waiting.set(fn.name, [...(this.waiting.get(fn.name) ?? []), resolve]));
    }
  }

  private release(fn: BoxFunction, container: Container): void {
    container.busy = false;
    container.pending = undefined;
    const next = this.waiting.get(fn.name)?.shift();
    next?.();
  }

  private async start(fn: BoxFunction): Promise<Container> {
    const credentials = this.options.credentialsFor(fn.roleArn);
    const tmp = join(this.options.logDir, '..', 'tmp', fn.name);
    mkdirSync(tmp, { recursive: true });
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      TMPDIR: tmp,
      ...fn.environment,
      ...this.options.extraEnvironment,
      _HANDLER: fn.handler,
      LAMBDA_TASK_ROOT: fn.assetDir,
      AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: fn.logGroupName ?? `/aws/lambda/${fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: randomUUID(),
      AWS_REGION: this.options.template.account.region,
      AWS_DEFAULT_REGION: this.options.template.account.region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
      AWS_ENDPOINT_URL: this.options.endpointUrl,
      NODE_PATH: this.runtimeModules,
      BOX_FUNCTION_ARN: fn.arn,
      BOX_HOSTS: JSON.stringify(this.options.hosts ?? {}),
    };
    const started = performance.now();
    const child = fork(WORKER, [], {
      execPath: this.node,
      cwd: fn.assetDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const log = this.log(fn);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const container: Container = { process: child, busy: true };
    child.on('message', (message: { type: string; id?: string; result?: unknown; error?: LambdaError }) => {
      const pending = container.pending;
      if (!pending || message.id !== pending.id) return;
      clearTimeout(pending.timer);
      pending.resolve(
        message.type === 'result' ? { ok: true, payload: message.result } : { ok: false, error: message.error! },
      );
    });
    child.on('exit', (code, signal) => {
      const pending = container.pending;
      if (!pending) return;
      clearTimeout(pending.timer);
      pending.resolve({
        ok: false,
        error: {
          errorType: 'Runtime.ExitError',
          errorMessage: `RequestId: ${pending.id} Error: Runtime exited with error: ${signal ?? `exit status ${code}`}`,
        },
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', (message: { type: string; initMs: number }) => {
        if (message.type !== 'ready') return reject(new Error(`${fn.name}: the container did not start`));
        this.coldStarts.push({ function: fn.logicalId, initMs: performance.now() - started });
        resolve();
      });
      child.once('exit', (code) => reject(new Error(`${fn.name}: init failed (exit ${code}); see ${log.path}`)));
    });
    return container;
  }

  private log(fn: BoxFunction): WriteStream {
    let log = this.logs.get(fn.name);
    if (!log) {
      log = createWriteStream(join(this.options.logDir, `${fn.logicalId}.log`), { flags: 'a' });
      this.logs.set(fn.name, log);
    }
    return log;
  }
}

/** Lambda runs Node 22: the project's own `node` devDependency when this process is not already on 22. */
export function node22(): string {
  if (process.versions.node.startsWith('22.')) return process.execPath;
  const local = fileURLToPath(new URL('../../node_modules/node/bin/node', import.meta.url));
  if (existsSync(local)) return local;
  throw new Error('the box needs Node 22 (npm install brings the `node` devDependency)');
}
