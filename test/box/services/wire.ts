import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { BoxAccount } from '../model.ts';

/**
 * What every service module of the box's AWS endpoint shares: the request as received, the call
 * context (who calls, and `authorize` against the template's IAM), and each protocol's error
 * wire format, so the real SDK clients parse the box's refusals as they parse AWS's.
 */

export type Protocol = 'awsJson1_0' | 'awsJson1_1' | 'restJson' | 'query' | 'ec2' | 'restXml';

export interface GatewayRequest {
  method: string;
  /** The raw path as received (still percent-encoded), without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface ServiceResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface CallContext {
  request: GatewayRequest;
  account: BoxAccount;
  accessKeyId: string;
  principalArn: string;
  /** Refuses (throws AccessDenied in the protocol's format, recorded as a Denial) unless every resource is allowed. */
  authorize(action: string, resources: string[], context?: Record<string, string | string[]>): Promise<void>;
}

export interface BoxService {
  /** The service name in the call records (`dynamodb`, `sesv2`, …). */
  name: string;
  /** The SigV4 signing name in the credential scope (`ses` for SESv2). */
  signingName: string;
  protocol: Protocol;
  /** The API operation a request names (`Query`, `SendEmail`); undefined when the service has no such operation. */
  operation(request: GatewayRequest): string | undefined;
  handle(operation: string, call: CallContext): Promise<ServiceResponse>;
}

/** An error the service answers with: `code` is the AWS exception name the SDK turns into `error.name`. */
export class ServiceError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** AccessDenied as the protocol names it, with AWS's status. */
export function accessDenied(protocol: Protocol, message: string): ServiceError {
  if (protocol === 'ec2') return new ServiceError('UnauthorizedOperation', message, 403);
  if (protocol === 'query' || protocol === 'restXml') return new ServiceError('AccessDenied', message, 403);
  return new ServiceError('AccessDeniedException', message, protocol === 'restJson' ? 403 : 400);
}

export type AuthFailure = 'missing' | 'unknown-key' | 'bad-token' | 'bad-signature';

const AUTH_CODES: Record<AuthFailure, Record<'json' | 'query' | 'restXml', string>> = {
  missing: {
    json: 'MissingAuthenticationTokenException',
    query: 'MissingAuthenticationToken',
    restXml: 'AccessDenied',
  },
  'unknown-key': { json: 'UnrecognizedClientException', query: 'InvalidClientTokenId', restXml: 'InvalidAccessKeyId' },
  'bad-token': { json: 'UnrecognizedClientException', query: 'InvalidClientTokenId', restXml: 'InvalidToken' },
  'bad-signature': {
    json: 'InvalidSignatureException',
    query: 'SignatureDoesNotMatch',
    restXml: 'SignatureDoesNotMatch',
  },
};

const AUTH_MESSAGES: Record<AuthFailure, string> = {
  missing: 'Missing Authentication Token',
  'unknown-key': 'The security token included in the request is invalid.',
  'bad-token': 'The security token included in the request is invalid.',
  'bad-signature':
    'The request signature we calculated does not match the signature you provided. ' +
    'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
};

/** The refusal of a request whose signature does not hold, as each protocol words it. */
export function authFailure(protocol: Protocol, failure: AuthFailure, detail = ''): ServiceError {
  const family = protocol === 'query' || protocol === 'ec2' ? 'query' : protocol === 'restXml' ? 'restXml' : 'json';
  const status = protocol.startsWith('awsJson') ? 400 : 403;
  return new ServiceError(AUTH_CODES[failure][family], `${AUTH_MESSAGES[failure]}${detail}`, status);
}

/**
 * The error in the protocol's wire format (awsJson `__type`, REST-JSON `x-amzn-errortype`,
 * query `<ErrorResponse>`, EC2 `<Response><Errors>`, S3 `<Error>`).
 */
export function errorResponse(protocol: Protocol, error: ServiceError, method = 'POST'): ServiceResponse {
  const requestId = randomUUID();
  if (protocol === 'ec2') {
    const body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xml(error.code)}</Code>` +
      `<Message>${xml(error.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
    return { status: error.status, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body };
  }
  if (protocol === 'query') {
    const body =
      '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' +
      `<Error><Type>Sender</Type><Code>${xml(error.code)}</Code><Message>${xml(error.message)}</Message></Error>` +
      `<RequestId>${requestId}</RequestId></ErrorResponse>`;
    return { status: error.status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body };
  }
  if (protocol === 'restXml') {
    const body =
      method === 'HEAD'
        ? ''
        : '<?xml version="1.0" encoding="UTF-8"?>\n' +
          `<Error><Code>${xml(error.code)}</Code><Message>${xml(error.message)}</Message><RequestId>${requestId}</RequestId></Error>`;
    return {
      status: error.status,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
      body,
    };
  }
  const headers = { 'x-amzn-errortype': error.code, 'x-amzn-requestid': requestId };
  if (protocol === 'restJson') {
    return {
      status: error.status,
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ message: error.message }),
    };
  }
  return {
    status: error.status,
    headers: { ...headers, 'content-type': `application/x-amz-json-${protocol === 'awsJson1_0' ? '1.0' : '1.1'}` },
    body: JSON.stringify({ __type: `com.amazonaws.box#${error.code}`, message: error.message }),
  };
}

/** A JSON answer for the awsJson protocols. */
export function jsonAnswer(protocol: Protocol, body: unknown, status = 200): ServiceResponse {
  const type = protocol === 'awsJson1_0' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1';
  return {
    status,
    headers: {
      'content-type': protocol === 'restJson' ? 'application/json' : type,
      'x-amzn-requestid': randomUUID(),
    },
    body: JSON.stringify(body),
  };
}

/** The request's JSON body; a body that is not JSON is the SDK's SerializationException. */
export function jsonBody<T = Record<string, any>>(request: GatewayRequest): T {
  if (request.body.length === 0) return {} as T;
  try {
    return JSON.parse(request.body.toString('utf8')) as T;
  } catch {
    throw new ServiceError('SerializationException', 'the request body is not JSON');
  }
}

/** The operation of an awsJson request: `X-Amz-Target: <prefix>.<Operation>`. */
export function targetOperation(request: GatewayRequest, prefix: string): string | undefined {
  const target = String(request.headers['x-amz-target'] ?? '');
  return target.startsWith(`${prefix}.`) ? target.slice(prefix.length + 1) : undefined;
}

export function xml(value: string): string {
  return value.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
}

export function arn(account: BoxAccount, service: string, resource: string): string {
  return `arn:${account.partition}:${service}:${account.region}:${account.accountId}:${resource}`;
}

/** Epoch seconds, as the awsJson protocols carry timestamps. */
export function epoch(date: Date): number {
  return date.getTime() / 1000;
}

/** An AWS query-protocol (STS, CloudFormation) success: the operation's Result in its Response, with a request id. */
export function queryAnswer(namespace: string, operation: string, result: string): ServiceResponse {
  const requestId = randomUUID();
  return {
    status: 200,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
    body:
      `<${operation}Response xmlns="${namespace}"><${operation}Result>${result}</${operation}Result>` +
      `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${operation}Response>`,
  };
}
