import { type DualRequest, type DualResponse, listenHttp1And2, respond } from './dual-server.ts';
import type { IamAuthority } from './iam.ts';
import type { AwsCall, BoxAccount, Denial } from './model.ts';
import { type BedrockBackend, bedrockService } from './services/bedrock.ts';
import { type CloudFormationOptions, cloudFormationService } from './services/cloudformation.ts';
import { dynamodbService, type PartitionKeyOf } from './services/dynamodb.ts';
import { ecsService, type EcsGatewayOptions } from './services/ecs.ts';
import { eventsService, type EventsOptions, type PutEventRecord } from './services/events.ts';
import { lambdaService, type LambdaBackend } from './services/lambda.ts';
import { createS3Store, s3Service, type S3Store } from './services/s3.ts';
import { schedulerService, type SchedulerSchedule } from './services/scheduler.ts';
import { createSecretStore, secretsManagerService, type SecretStore } from './services/secretsmanager.ts';
import { type SentMail, type SesIdentities, sesService, type SesOptions } from './services/sesv2.ts';
import { statesService, type SfnBackend } from './services/states.ts';
import { ec2Service } from './services/ec2.ts';
import { stsService } from './services/sts.ts';
import {
  accessDenied,
  authFailure,
  type CallContext,
  errorResponse,
  type GatewayRequest,
  type Protocol,
  ServiceError,
  type ServiceResponse,
} from './services/wire.ts';
import { parseAuthorization, verifySignature } from './sigv4.ts';

/**
 * The stack in a box's AWS endpoint: one HTTP server on 127.0.0.1 that every bundle reaches
 * through AWS_ENDPOINT_URL. It tells the service from the SigV4 credential scope, checks the
 * signature with the secret the IAM authority minted, asks the authority whether the calling
 * role may do what the request does, and then serves it (DynamoDB Local, in-memory stores, or
 * the box's backends). Refusals use each protocol's wire format, so the SDK raises what AWS
 * would make it raise.
 */

export interface AwsGatewayOptions {
  iam: IamAuthority;
  /** The box's account (default: the IAM authority's). */
  account?: BoxAccount;
  /** DynamoDB Local's URL; DynamoDB calls that pass are forwarded there. */
  dynamodbUrl?: string;
  /** Each table's partition key, for the `dynamodb:LeadingKeys` its requests carry. */
  partitionKeyOf?: PartitionKeyOf;
  /** Secrets Manager's store (default: a new empty one, `gateway.secrets`). */
  secrets?: SecretStore;
  ses?: SesOptions;
  /** Called with each PutEvents entry the caller was allowed to put (the box matches its rules there). */
  onEvent?: EventsOptions['onEvent'];
  sfn?: SfnBackend;
  lambda?: LambdaBackend;
  /** What Scheduler's GetSchedule / ListSchedules answer (read at each call). */
  schedules?: SchedulerSchedule[] | (() => SchedulerSchedule[]);
  /** S3's store (default: a new one with no bucket, `gateway.s3`). */
  s3?: S3Store;
  ecs?: EcsGatewayOptions;
  /** Bedrock Runtime Converse, answered by a fake model server. */
  bedrock?: BedrockBackend;
  /** CloudFormation DescribeStacks / ListStackResources, answered from the deployed template. */
  cloudformation?: CloudFormationOptions;
}

/** A request to another endpoint of the box whose SigV4 signature the gateway checks. */
export interface SignedRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
}

/** A request the box has no service or operation for: the box fails loudly rather than answering something. */
export interface UnknownOperation {
  service: string;
  target: string;
  principalArn: string | undefined;
}

export interface AwsGateway {
  readonly url: string;
  readonly calls: AwsCall[];
  readonly denials: Denial[];
  readonly unknownOperations: UnknownOperation[];
  /** Mails SESv2 SendEmail accepted. */
  readonly sentMails: SentMail[];
  /** SES identities: a test marks one unverified (or verified again). */
  readonly sesIdentities: SesIdentities;
  /** Entries EventBridge PutEvents accepted, with their bus. */
  readonly events: PutEventRecord[];
  readonly secrets: SecretStore;
  readonly s3: S3Store;
  /** Checks a request's SigV4 signature for another endpoint of the box (the HTTP API: `execute-api`). */
  verifySignature(request: SignedRequest, service: string): Promise<{ accessKeyId: string } | { error: string }>;
  close(): Promise<void>;
}

export async function startAwsGateway(options: AwsGatewayOptions): Promise<AwsGateway> {
  const authority = options.iam;
  const account = options.account ?? authority.account;
  const secrets = options.secrets ?? createSecretStore(account);
  const s3 = options.s3 ?? createS3Store([]);
  const ses = sesService(options.ses);
  const events = eventsService(options.onEvent ? { onEvent: options.onEvent } : undefined);
  const services = [
    dynamodbService(options.dynamodbUrl, options.partitionKeyOf),
    secretsManagerService(secrets),
    ses,
    events,
    statesService(options.sfn),
    lambdaService(options.lambda),
    stsService(authority),
    ec2Service(),
    schedulerService(options.schedules),
    s3Service(s3),
    ecsService(options.ecs),
    bedrockService(options.bedrock),
    cloudFormationService(options.cloudformation),
  ];
  const unknownOperations: UnknownOperation[] = [];
  const server = await listenHttp1And2((req, res) => {
    serve(req, res).catch((error: unknown) => {
      respond(res, 500, { 'content-type': 'text/plain' }, `box gateway failure: ${(error as Error).message}`);
    });
  });

  async function serve(req: DualRequest, res: DualResponse): Promise<void> {
    const request = await readRequest(req);
    const answer = await dispatch(request);
    respond(res, answer.status, answer.headers ?? {}, answer.body ?? '');
  }

  async function dispatch(request: GatewayRequest): Promise<ServiceResponse> {
    const auth = parseAuthorization(headerOf(request, 'authorization'));
    const unsigned = guessProtocol(request);
    if (!auth) {
      return refuse(unsigned, 'unsigned', undefined, 'missing', 'the request is not signed with SigV4');
    }
    const service = services.find((each) => each.signingName === auth.service);
    const session = authority.session(auth.accessKeyId);
    const principalArn = session?.principalArn;
    if (!service) return unknown(unsigned, auth.service, describeTarget(request), principalArn);
    const bad = await verifySignature(request, auth, session);
    if (bad)
      return refuse(service.protocol, service.name, principalArn, bad.failure, `signature check: ${bad.failure}`);
    const operation = service.operation(request);
    if (!operation) return unknown(service.protocol, service.name, describeTarget(request), principalArn);
    let denied = false;
    const call: CallContext = {
      request,
      account,
      accessKeyId: auth.accessKeyId,
      principalArn: principalArn!,
      async authorize(action, resources, context) {
        const result = await authority.authorize({
          accessKeyId: auth.accessKeyId,
          action,
          resources,
          ...(context ? { context } : {}),
        });
        if (!result.allowed) {
          denied = true;
          throw accessDenied(service.protocol, result.message ?? result.reason);
        }
      },
    };
    try {
      return await service.handle(operation, call);
    } catch (error) {
      if (error instanceof ServiceError) {
        if (error.code.startsWith('AccessDenied')) denied = true;
        if (error.code === 'UnknownOperationException') {
          unknownOperations.push({ service: service.name, target: describeTarget(request), principalArn });
        }
        return errorResponse(service.protocol, error, request.method);
      }
      return errorResponse(
        service.protocol,
        new ServiceError('InternalFailure', `box ${service.name} ${operation}: ${(error as Error).message}`, 500),
      );
    } finally {
      authority.recordCall({ service: service.name, action: operation, principalArn, allowed: !denied });
    }
  }

  function refuse(
    protocol: Protocol,
    service: string,
    principalArn: string | undefined,
    failure: Parameters<typeof authFailure>[1],
    reason: string,
  ): ServiceResponse {
    authority.denials.push({ principalArn, action: `${service}:*`, resource: '*', reason });
    authority.recordCall({ service, action: 'signature', principalArn, allowed: false });
    return errorResponse(protocol, authFailure(protocol, failure));
  }

  function unknown(protocol: Protocol, service: string, target: string, principalArn: string | undefined) {
    unknownOperations.push({ service, target, principalArn });
    authority.recordCall({ service, action: target, principalArn, allowed: false });
    const message = `the box does not serve ${service} ${target}; add it to test/box/services/`;
    return errorResponse(protocol, new ServiceError('UnknownOperationException', message, 400));
  }

  return {
    url: server.url,
    calls: authority.calls,
    denials: authority.denials,
    unknownOperations,
    sentMails: ses.sentMails,
    sesIdentities: ses.identities,
    events: events.events,
    secrets,
    s3,
    async verifySignature(signed, service) {
      const request: GatewayRequest = {
        method: signed.method,
        path: signed.url.pathname,
        query: signed.url.searchParams,
        headers: signed.headers,
        body: signed.body,
      };
      const auth = parseAuthorization(headerOf(request, 'authorization'));
      if (!auth) return { error: 'the request is not signed with SigV4' };
      if (auth.service !== service) return { error: `signed for ${auth.service}, not ${service}` };
      const bad = await verifySignature(request, auth, authority.session(auth.accessKeyId));
      if (!bad) return { accessKeyId: auth.accessKeyId };
      authority.denials.push({
        principalArn: undefined,
        action: `${service}:*`,
        resource: '*',
        reason: `signature check: ${bad.failure}`,
      });
      return { error: `signature check: ${bad.failure}` };
    },
    async close() {
      await server.close();
    },
  };
}

async function readRequest(req: DualRequest): Promise<GatewayRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  // HTTP/2 names the host in :authority; SigV4 signed it as `host`.
  const headers = { ...req.headers };
  if (headers.host === undefined && typeof headers[':authority'] === 'string') headers.host = headers[':authority'];
  const raw = req.url ?? '/';
  const at = raw.indexOf('?');
  return {
    method: req.method ?? 'GET',
    path: at === -1 ? raw : raw.slice(0, at),
    query: new URLSearchParams(at === -1 ? '' : raw.slice(at + 1)),
    headers,
    body: Buffer.concat(chunks),
  };
}

function headerOf(request: GatewayRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** For a request the box cannot attribute to a service (unsigned, or an unknown signing name). */
function guessProtocol(request: GatewayRequest): Protocol {
  if (request.headers['x-amz-target']) {
    return String(request.headers['content-type']).includes('1.0') ? 'awsJson1_0' : 'awsJson1_1';
  }
  if (String(request.headers['content-type'] ?? '').includes('x-www-form-urlencoded')) return 'query';
  if (/^\/(2015-03-31|v2|schedules)\//.test(request.path)) return 'restJson';
  return 'restXml';
}

function describeTarget(request: GatewayRequest): string {
  return headerOf(request, 'x-amz-target') ?? `${request.method} ${request.path}`;
}
