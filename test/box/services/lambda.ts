import type { BoxAccount } from '../model.ts';
import { arn, type BoxService, type CallContext, ServiceError, type ServiceResponse } from './wire.ts';

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
}

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

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
    operation: (request) => (request.method === 'POST' && PATH.test(request.path) ? 'Invoke' : undefined),
    async handle(_operation: string, call: CallContext): Promise<ServiceResponse> {
      if (!backend) throw new ServiceError('UnknownOperationException', 'the box has no Lambda backend');
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
