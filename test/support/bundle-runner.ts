import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RUNTIME_SDK_RESOLVE, runtimeSdk } from './runtime-sdk.ts';

/**
 * A bundled Lambda asset from cdk.out, run as Lambda runs it: a fresh Node 22 process
 * (a cold start) that imports `<asset>/index.mjs` with the template's environment and the
 * runtime's AWS SDK (runtime-sdk.ts, in a node_modules beside the asset's folder), and
 * calls its `handler` once per invocation, keeping whatever the handler keeps between them
 * (a warm container). Answers come back on stdout behind a marker, beside the handler's logs.
 */

const NODE22 = join(import.meta.dirname, '../../node_modules/node/bin/node');
const MARKER = '\u0000looprail-invocation ';

const RUNNER = `
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
const { handler } = await import(pathToFileURL(process.env.LAMBDA_TASK_ROOT + '/index.mjs').href);
for await (const line of createInterface({ input: process.stdin })) {
  const { id, event } = JSON.parse(line);
  let answer;
  try {
    answer = { id, result: await handler(event) };
  } catch (error) {
    answer = { id, error: { errorType: error?.name ?? 'Error', errorMessage: String(error?.message ?? error) } };
  }
  process.stdout.write(${JSON.stringify(MARKER)} + JSON.stringify(answer) + '\\n');
}
`;

export interface RunningBundle {
  invoke(event: unknown): Promise<unknown>;
  /** What the handler logged (its stdout and stderr lines). */
  readonly logs: string[];
  /** Ends the container (and whatever it started). */
  stop(): Promise<void>;
}

export function startBundle(assetDir: string, environment: Record<string, string>): RunningBundle {
  const nodePath = runtimeSdk(join(assetDir, '..', 'lambda-runtime'));
  const args = ['--import', RUNTIME_SDK_RESOLVE, '--input-type=module', '-e', RUNNER];
  const child: ChildProcessWithoutNullStreams = spawn(NODE22, args, {
    cwd: assetDir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...environment,
      LAMBDA_TASK_ROOT: assetDir,
      NODE_PATH: nodePath,
    },
    stdio: 'pipe',
  });
  const logs: string[] = [];
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let next = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith(MARKER)) return void logs.push(line);
    const answer = JSON.parse(line.slice(MARKER.length)) as { id: number; result?: unknown; error?: unknown };
    const pending = waiting.get(answer.id);
    waiting.delete(answer.id);
    if (answer.error) pending?.reject(Object.assign(new Error(JSON.stringify(answer.error)), answer.error));
    else pending?.resolve(answer.result);
  });
  createInterface({ input: child.stderr }).on('line', (line) => logs.push(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const pending of waiting.values()) pending.reject(new Error(`the bundle exited:\n${logs.join('\n')}`));
    waiting.clear();
  });
  return {
    logs,
    invoke(event) {
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.stdin.write(`${JSON.stringify({ id, event })}\n`);
      });
    },
    async stop() {
      // The whole process group would be Lambda's freeze; here the server child dies with its parent's stdin.
      child.stdin.end();
      child.kill('SIGTERM');
      await exited;
    },
  };
}
