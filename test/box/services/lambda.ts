import type { BoxAccount } from '../model.ts';
import { arn, type BoxService, type CallContext, jsonAnswer, ServiceError, type ServiceResponse } from './wire.ts';

/**
 * Lambda Invoke (REST-JSON, `POST /2015-03-31/functions/{name}/invocations`):
 * lambda:InvokeFunction on the function's ARN (qualified when the call names a version or
 * alias), then the box's `LambdaBackend`. Answered as Lambda does: 200 with the payload and
 * `X-Amz-Function-Error: Unhandled` for a handler error, 202 for an Event invocation.
 */

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

export interface LambdaBackend {
  /** Runs the function (by its plain name); throws an error named ResourceNotFoundException for an unknown one. */
  invoke(
    functionName: string,
    payload: string,
    invocationType: InvocationType,
  ): Promise<{ payload: string; functionError?: string }>;
  /** A function's description and environment as deployed (GetFunctionConfiguration); undefined for an unknown one. */
  configuration?(functionName: string): { description?: string; environment: Record<string, string> } | undefined;
}

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
const CONFIGURATION = /^\/2015-03-31\/functions\/([^/]+)\/configuration$/;

/** `name`, `name:qualifier`, `123456789012:function:name` or a full ARN → the name, qualifier and ARN IAM checks. */
export function lambdaTarget(
  account: BoxAccount,
  reference: string,
): { name: string; qualifier?: string; arn: string } {
  const parts = reference.split(':');
  let name: string;
  let qualifier: string | undefined;
  if (reference.startsWith('arn:')) [name, qualifier] = [parts[6]!, parts[7]];
  else if (parts[1] === 'function') [name, qualifier] = [parts[2]!, parts[3]];
  else [name, qualifier] = [parts[0]!, parts[1]];
  const base = arn(account, 'lambda', `function:${name}`);
  return { name, ...(qualifier ? { qualifier } : {}), arn: qualifier ? `${base}:${qualifier}` : base };
}

export function lambdaService(backend: LambdaBackend | undefined): BoxService {
  return {
    name: 'lambda',
    signingName: 'lambda',
    protocol: 'restJson',
    operation(request) {
      if (request.method === 'POST' && PATH.test(request.path)) return 'Invoke';
      if (request.method === 'GET' && CONFIGURATION.test(request.path)) return 'GetFunctionConfiguration';
      return undefined;
    },
    async handle(operation: string, call: CallContext): Promise<ServiceResponse> {
      if (!backend) throw new ServiceError('UnknownOperationException', 'the box has no Lambda backend');
      if (operation === 'GetFunctionConfiguration') return functionConfiguration(backend, call);
      const reference = decodeURIComponent(PATH.exec(call.request.path)![1]!);
      const qualifier = call.request.query.get('Qualifier');
      const target = lambdaTarget(call.account, qualifier ? `${reference}:${qualifier}` : reference);
      await call.authorize('lambda:InvokeFunction', [target.arn]);
      const invocationType = String(
        call.request.headers['x-amz-invocation-type'] ?? 'RequestResponse',
      ) as InvocationType;
      const payload = call.request.body.toString('utf8');
      if (payload !== '') {
        try {
          JSON.parse(payload);
        } catch {
          throw new ServiceError('InvalidRequestContentException', 'Could not parse request body into json', 400);
        }
      }
      let result: { payload: string; functionError?: string };
      try {
        result = await backend.invoke(target.name, payload, invocationType);
      } catch (error) {
        const failure = error as Error;
        const status = failure.name === 'ResourceNotFoundException' ? 404 : 500;
        throw new ServiceError(failure.name === 'Error' ? 'ServiceException' : failure.name, failure.message, status);
      }
      if (invocationType === 'Event') return { status: 202, headers: { 'x-amzn-requestid': 'box' } };
      if (invocationType === 'DryRun') return { status: 204 };
      return {
        status: 200,
        headers: {
          'content-type': 'application/json',
          'x-amz-executed-version': '$LATEST',
          ...(result.functionError ? { 'x-amz-function-error': result.functionError } : {}),
        },
        body: result.payload,
      };
    },
  };
}

/** GetFunctionConfiguration: lambda:GetFunctionConfiguration on the function, then what the backend deployed. */
async function functionConfiguration(backend: LambdaBackend, call: CallContext): Promise<ServiceResponse> {
  const reference = decodeURIComponent(CONFIGURATION.exec(call.request.path)![1]!);
  const target = lambdaTarget(call.account, reference);
  await call.authorize('lambda:GetFunctionConfiguration', [target.arn]);
  const found = backend.configuration?.(target.name);
  if (!found) throw new ServiceError('ResourceNotFoundException', `Function not found: ${target.arn}`, 404);
  return jsonAnswer('restJson', {
    FunctionName: target.name,
    FunctionArn: target.arn,
    Runtime: 'nodejs22.x',
    Architectures: ['arm64'],
    ...(found.description !== undefined ? { Description: found.description } : {}),
    Environment: { Variables: found.environment },
    State: 'Active',
    LastUpdateStatus: 'Successful',
    Version: '$LATEST',
  });
}
