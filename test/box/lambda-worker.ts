import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
// First: the bundle's `@aws-sdk/*` imports resolve from NODE_PATH, as on Lambda's Node runtimes.
import '../support/runtime-sdk-resolve.ts';
import { routeHostsToBox } from './box-hosts.ts';

/**
 * One Lambda container of the stack in a box: a fresh Node 22 process that imports the
 * bundled asset from cdk.out as Lambda's Node runtime does (`_HANDLER` = `index.handler`
 * under LAMBDA_TASK_ROOT), then serves invocations sent over IPC, one at a time.
 */

interface Invocation {
  id: string;
  event: unknown;
  deadline: number;
}

const started = performance.now();
routeHostsToBox(JSON.parse(process.env.BOX_HOSTS ?? '{}') as Record<string, string>);
const taskRoot = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
const [file = 'index', exported = 'handler'] = (process.env._HANDLER ?? 'index.handler').split('.');
const candidates = ['.mjs', '.js', '.cjs'].map((extension) => join(taskRoot, `${file}${extension}`));
const entry = candidates.find((path) => existsSync(path));
if (!entry) throw new Error(`Runtime.ImportModuleError: no ${file}.mjs/.js in ${taskRoot}`);
const module = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
const handler = (module[exported] ?? (module.default as Record<string, unknown> | undefined)?.[exported]) as
  | ((event: unknown, context: unknown) => Promise<unknown>)
  | undefined;
if (typeof handler !== 'function') throw new Error(`Runtime.HandlerNotFound: ${file}.${exported} is not a function`);
process.send?.({ type: 'ready', initMs: performance.now() - started });

process.on('message', async (message: Invocation) => {
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: process.env.BOX_FUNCTION_ARN,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: message.id,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
  };
  try {
    const result = await handler(message.event, context);
    process.send?.({ type: 'result', id: message.id, result: result === undefined ? null : result });
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    process.send?.({
      type: 'error',
      id: message.id,
      error: {
        errorType: failure.name,
        errorMessage: failure.message,
        trace: (failure.stack ?? '').split('\n'),
      },
    });
  }
});
