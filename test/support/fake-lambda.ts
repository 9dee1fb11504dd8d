import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Lambda's Invoke API on 127.0.0.1 (`POST /2015-03-31/functions/<name>/invocations`),
 * for the real SDK client: it runs the named handler in-process on the JSON payload and
 * answers as Lambda does — the result as JSON, or for a thrown error HTTP 200 with
 * `X-Amz-Function-Error: Unhandled` and `{ errorType, errorMessage, trace }` (errorType is
 * the error's name). An unknown function is a ResourceNotFoundException.
 */

export type FakeHandler = (event: unknown) => Promise<unknown>;

export interface RecordedInvocation {
  functionName: string;
  invocationType: string | undefined;
  payload: any;
  /** The answer's raw body, as the caller received it. */
  response: string;
  functionError?: string;
}

export interface FakeLambda {
  readonly url: string;
  readonly invocations: RecordedInvocation[];
  close(): Promise<void>;
}

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations(\?.*)?$/;

export async function startFakeLambda(functions: Record<string, FakeHandler>): Promise<FakeLambda> {
  const invocations: RecordedInvocation[] = [];
  const server: Server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const match = req.method === 'POST' ? PATH.exec(req.url ?? '') : null;
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      res
        .writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': 'fake-request', ...headers })
        .end(JSON.stringify(body));
    if (!match)
      return json(
        404,
        { Type: 'User', message: `no route for ${req.method} ${req.url}` },
        { 'x-amzn-errortype': 'UnknownOperationException' },
      );
    const functionName = decodeURIComponent(match[1]!);
    const handler = Object.hasOwn(functions, functionName) ? functions[functionName] : undefined;
    if (!handler) {
      return json(
        404,
        { Type: 'User', message: `Function not found: arn:aws:lambda:us-east-1:123456789012:function:${functionName}` },
        { 'x-amzn-errortype': 'ResourceNotFoundException' },
      );
    }
    let payload: unknown;
    try {
      payload = raw === '' ? {} : JSON.parse(raw);
    } catch {
      return json(
        400,
        { Type: 'User', message: 'Could not parse request body into json' },
        { 'x-amzn-errortype': 'InvalidRequestContentException' },
      );
    }
    const record: RecordedInvocation = {
      functionName,
      invocationType: req.headers['x-amz-invocation-type'] as string | undefined,
      payload,
      response: '',
    };
    invocations.push(record);
    try {
      // The result goes through JSON as Lambda's does (undefined becomes null).
      const result = await handler(payload);
      record.response = JSON.stringify(result ?? null);
      res
        .writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' })
        .end(record.response);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      record.functionError = 'Unhandled';
      record.response = JSON.stringify({
        errorType: err.name,
        errorMessage: err.message,
        trace: (err.stack ?? '').split('\n'),
      });
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'x-amz-executed-version': '$LATEST',
          'x-amz-function-error': 'Unhandled',
        })
        .end(record.response);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    invocations,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
