import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { doctorPolicy } from '../../cli/doctor/policy.ts';
import { type AwsGateway, startAwsGateway } from './aws-gateway.ts';
import { IamAuthority } from './iam.ts';
import { BoxHttpApi } from './http-api.ts';
import { BoxLambdas } from './lambdas.ts';
import type { BoxAccount } from './model.ts';
import { BoxRules, BoxSchedules } from './rules.ts';
import { type BoxEcs, startBoxEcs } from './sandboxes.ts';
import { BoxStepFunctions } from './step-functions.ts';
import type { Synthesized } from './synth.ts';
import { BoxTemplate, isCustomResource } from './template.ts';

/**
 * The stack in a box: a synthesized stack "deployed" on this machine, with no AWS account.
 * Every Lambda is its bundle from cdk.out in Node 22 processes with the template's
 * environment; the state machine is the template's definition; schedules, rules and the
 * HTTP API are the template's; and every AWS call a bundle makes goes through one endpoint
 * that authorizes it against the calling role's policies from the template before serving
 * it (DynamoDB Local for the table, in-memory services for the rest). See docs/architecture.md.
 */

export interface BoxOptions extends Synthesized {
  /** DynamoDB Local's URL: the run table is created there under its deployed name. */
  dynamodbUrl: string;
  /** Where function logs and /tmp folders go (default: a new temporary folder). */
  workDir?: string;
  /** Variables added to every function (e.g. a fake model provider's URL); never secrets. */
  extraEnvironment?: Record<string, string>;
  /** SES identities (addresses, domains) verified in the box's account, as a person verifies the sender before deploying. */
  verifiedIdentities?: string[];
  /** Milliseconds between Step Functions retries, instead of the ASL's backoff (tests use 0). */
  retryIntervalMs?: number;
  /** Run the template's sandbox tasks: an ECS control plane whose tasks are real sandbox agents (test/box/sandboxes.ts). */
  sandboxes?: boolean;
}

/** The IAM user a person (or a test) calls the API as: it may invoke every route of this API. */
export const OPERATOR = 'operator';
/** An IAM user with no policy at all: every IAM route refuses it. */
export const NOBODY = 'nobody';
/** The IAM user who runs `looprail doctor`: the read-only policy the README documents, nothing more. */
export const DOCTOR = 'doctor';

export class StackInABox {
  readonly template: BoxTemplate;
  readonly iam: IamAuthority;
  readonly lambdas: BoxLambdas;
  readonly stepFunctions: BoxStepFunctions;
  readonly rules: BoxRules;
  readonly schedules: BoxSchedules;
  readonly api: BoxHttpApi;
  readonly gateway: AwsGateway;
  readonly workDir: string;
  /** The sandboxes' ECS control plane, when deployed with `sandboxes`. */
  readonly ecs: BoxEcs | undefined;
  private readonly cfnResponses: Server;

  private constructor(parts: {
    template: BoxTemplate;
    iam: IamAuthority;
    lambdas: BoxLambdas;
    stepFunctions: BoxStepFunctions;
    rules: BoxRules;
    schedules: BoxSchedules;
    api: BoxHttpApi;
    gateway: AwsGateway;
    workDir: string;
    cfnResponses: Server;
    ecs: BoxEcs | undefined;
  }) {
    this.ecs = parts.ecs;
    this.template = parts.template;
    this.iam = parts.iam;
    this.lambdas = parts.lambdas;
    this.stepFunctions = parts.stepFunctions;
    this.rules = parts.rules;
    this.schedules = parts.schedules;
    this.api = parts.api;
    this.gateway = parts.gateway;
    this.workDir = parts.workDir;
    this.cfnResponses = parts.cfnResponses;
  }

  /** Deploys a synthesized stack into a new box: resources created, custom resources run, endpoints listening. */
  static async deploy(options: BoxOptions): Promise<StackInABox> {
    const account: BoxAccount = {
      accountId: options.account,
      region: options.region,
      partition: 'aws',
      stackName: options.stackName,
    };
    const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'looprail-box-'));
    const template = BoxTemplate.read(options.outDir, account, randomBytes(4).toString('hex'));
    const iam = new IamAuthority({
      account,
      roles: template.roles(),
      resourcePolicies: template.resourcePolicies(),
      users: [
        { name: OPERATOR, policies: [{ name: 'invoke-api', document: operatorPolicy(template) }] },
        { name: NOBODY, policies: [] },
        { name: DOCTOR, policies: [{ name: 'looprail-doctor', document: doctorPolicy(account) }] },
      ],
    });
    let lambdas: BoxLambdas | undefined;
    let stepFunctions: BoxStepFunctions | undefined;
    let rules: BoxRules | undefined;
    const schedules = () => new BoxSchedules({ template, lambdas: lambdas!, iam });
    const ecs = options.sandboxes ? await startBoxEcs(template) : undefined;
    const gateway = await startAwsGateway({
      ...(ecs ? { ecs: ecs.options } : {}),
      iam,
      account,
      dynamodbUrl: options.dynamodbUrl,
      partitionKeyOf: (tableName) => partitionKeyOf(template, tableName),
      ses: { identities: options.verifiedIdentities ?? [] },
      lambda: {
        invoke: async (functionName, payload) => {
          const result = await lambdas!.invoke(functionName, JSON.parse(payload || 'null'));
          return result.ok
            ? { payload: JSON.stringify(result.payload) }
            : { payload: JSON.stringify(result.error), functionError: 'Unhandled' };
        },
        configuration: (functionName) => functionConfiguration(template, functionName),
      },
      cloudformation: { template },
      sfn: stepFunctionsBackend(() => stepFunctions!),
      onEvent: async (entry) => {
        await rules!.put(entry);
      },
      schedules: () =>
        schedules()
          .list()
          .map((schedule) => {
            const target = template.properties(schedule.logicalId).Target;
            return {
              name: schedule.name,
              state: schedule.enabled ? ('ENABLED' as const) : ('DISABLED' as const),
              scheduleExpression: schedule.expression,
              scheduleExpressionTimezone: schedule.timezone,
              target: { arn: String(target.Arn), roleArn: String(target.RoleArn), input: target.Input },
            };
          }),
    });
    const cfnResponses = await startResponseListener(account.region);
    lambdas = new BoxLambdas({
      template,
      credentialsFor: (roleArn) => iam.credentialsFor(roleArn),
      endpointUrl: gateway.url,
      logDir: join(workDir, 'logs'),
      extraEnvironment: options.extraEnvironment,
      hosts: { [cfnResponses.host]: cfnResponses.localUrl },
    });
    rules = new BoxRules({ template, lambdas, iam });
    stepFunctions = new BoxStepFunctions({
      template,
      lambdas,
      iam,
      retryIntervalMs: options.retryIntervalMs,
      onStatusChange: async (event) => {
        await rules!.put(event);
      },
    });
    const api = new BoxHttpApi({
      template,
      lambdas,
      iam,
      verifySignature: (request) => gateway.verifySignature(request, 'execute-api'),
    });
    await api.start();
    const box = new StackInABox({
      template,
      iam,
      lambdas,
      stepFunctions,
      rules,
      schedules: schedules(),
      api,
      gateway,
      workDir,
      cfnResponses: cfnResponses.server,
      ecs,
    });
    try {
      await box.createResources(options.dynamodbUrl, cfnResponses);
    } catch (error) {
      // A failed deploy leaves nothing running, as CloudFormation rolls back.
      await box.close();
      throw error;
    }
    return box;
  }

  /** Credentials of a box IAM user (OPERATOR or NOBODY), for signing requests to the API. */
  userCredentials(name: string) {
    return this.iam.userCredentials(name);
  }

  /**
   * Every AWS call the stack's own roles (and the services acting for it) made that IAM refused,
   * by role and action: a deployed run must leave this empty. The box's test users are left out:
   * their refusals are what a test of the API's 403 expects.
   */
  get denials() {
    const users = `arn:${this.template.account.partition}:iam::${this.template.account.accountId}:user/`;
    return this.iam.denials.filter((denial) => !denial.principalArn?.startsWith(users));
  }

  async close(): Promise<void> {
    await this.lambdas.close();
    await this.api.close();
    await this.gateway.close();
    await this.ecs?.control.close();
    await new Promise((resolve) => this.cfnResponses.close(resolve));
  }

  /** What CloudFormation does at create: the table, the secrets it generates, then each custom resource. */
  private async createResources(dynamodbUrl: string, responses: ResponseListener): Promise<void> {
    const { template } = this;
    const dynamodb = new DynamoDBClient({
      endpoint: dynamodbUrl,
      region: template.account.region,
      credentials: { accessKeyId: 'box', secretAccessKey: 'box' },
    });
    for (const logicalId of template.ofType('AWS::DynamoDB::Table')) {
      const p = template.properties(logicalId);
      await dynamodb.send(
        new CreateTableCommand({
          TableName: template.physicalName(logicalId),
          AttributeDefinitions: p.AttributeDefinitions,
          KeySchema: p.KeySchema,
          GlobalSecondaryIndexes: p.GlobalSecondaryIndexes?.map(
            ({ ContributorInsightsSpecification: _, ...index }: Record<string, unknown>) => index,
          ),
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    }
    dynamodb.destroy();
    for (const logicalId of template.ofType('AWS::S3::Bucket'))
      this.gateway.s3.buckets.add(template.physicalName(logicalId));
    // What `cdk deploy` publishes before the stack: single-file assets into the bootstrap bucket.
    for (const asset of template.fileAssets()) {
      this.gateway.s3.buckets.add(asset.bucket);
      this.gateway.s3.put(asset.bucket, asset.key, readFileSync(asset.path));
    }
    for (const logicalId of template.ofType('AWS::SecretsManager::Secret')) {
      const p = template.properties(logicalId);
      const value =
        p.SecretString ?? (p.GenerateSecretString ? randomBytes(32).toString('base64url') : undefined) ?? '';
      this.gateway.secrets.create(template.physicalName(logicalId), String(value), template.ref(logicalId));
    }
    const custom = Object.keys(template.resources).filter((id) => isCustomResource(template.resources[id]!.Type));
    for (const logicalId of custom) await this.runCustomResource(logicalId, responses);
  }

  /** A custom resource's Create: its function is invoked as CloudFormation does, and must answer the response URL. */
  private async runCustomResource(logicalId: string, responses: ResponseListener): Promise<void> {
    const { template } = this;
    const properties = template.properties(logicalId);
    const requestId = randomBytes(8).toString('hex');
    const answered = responses.expect(requestId);
    const stackId = `arn:aws:cloudformation:${template.account.region}:${template.account.accountId}:stack/${template.account.stackName}/box`;
    const invoked = await this.lambdas.invoke(String(properties.ServiceToken), {
      RequestType: 'Create',
      ServiceToken: properties.ServiceToken,
      ResponseURL: responses.urlFor(stackId, logicalId, requestId),
      StackId: stackId,
      RequestId: requestId,
      LogicalResourceId: logicalId,
      ResourceType: template.resources[logicalId]!.Type,
      ResourceProperties: properties,
    });
    if (!invoked.ok)
      throw new Error(`custom resource ${logicalId}: ${invoked.error.errorType}: ${invoked.error.errorMessage}`);
    const response = (await answered) as { Status: string; Reason?: string; Data?: Record<string, unknown> };
    if (response.Status !== 'SUCCESS')
      throw new Error(`custom resource ${logicalId} failed: ${response.Reason ?? '(no reason)'}`);
    template.customResourceData.set(logicalId, response.Data ?? {});
  }
}

/** The operator's identity policy: invoke every route of this stack's API (what a platform team grants its people). */
function operatorPolicy(template: BoxTemplate) {
  const { accountId, partition, region } = template.account;
  const [api] = template.ofType('AWS::ApiGatewayV2::Api');
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'execute-api:Invoke',
        Resource: `arn:${partition}:execute-api:${region}:${accountId}:${template.ref(api!)}/*`,
      },
    ],
  };
}

/** The HASH key attribute of the template's table that has this physical name. */
function partitionKeyOf(template: BoxTemplate, tableName: string): string | undefined {
  const logicalId = template.ofType('AWS::DynamoDB::Table').find((id) => template.physicalName(id) === tableName);
  const keySchema = logicalId
    ? (template.properties(logicalId).KeySchema as { AttributeName: string; KeyType: string }[])
    : [];
  return keySchema.find((key) => key.KeyType === 'HASH')?.AttributeName;
}

/** A function's description and environment as the template deploys it (Lambda GetFunctionConfiguration). */
function functionConfiguration(template: BoxTemplate, functionName: string) {
  const logicalId = template.ofType('AWS::Lambda::Function').find((id) => template.physicalName(id) === functionName);
  if (!logicalId) return undefined;
  const p = template.properties(logicalId);
  return { description: p.Description, environment: (p.Environment?.Variables ?? {}) as Record<string, string> };
}

function stepFunctionsBackend(machine: () => BoxStepFunctions) {
  return {
    startExecution: (request: { stateMachineArn: string; name?: string; input?: string }) =>
      machine().startExecution(request),
    describeExecution: (executionArn: string) => machine().describeExecution(executionArn),
    stopExecution: (executionArn: string) => machine().stopExecution(executionArn),
    listExecutions: (stateMachineArn: string, statusFilter?: string) =>
      machine().listExecutions(stateMachineArn, statusFilter),
    sendTaskSuccess: (taskToken: string, output: string) => machine().sendTaskSuccess(taskToken, output),
    sendTaskFailure: (taskToken: string, error?: string, cause?: string) =>
      machine().sendTaskFailure(taskToken, error, cause),
    sendTaskHeartbeat: (taskToken: string) => machine().sendTaskHeartbeat(taskToken),
    stateMachineOfTaskToken: (taskToken: string) => machine().stateMachineOfTaskToken(taskToken),
  };
}

interface ResponseListener {
  /** The public host the pre-signed URLs name, and the local listener the box's DNS sends it to. */
  host: string;
  localUrl: string;
  server: Server;
  /** A response URL shaped as CloudFormation's: S3, pre-signed, the request id after the last `|`. */
  urlFor(stackId: string, logicalId: string, requestId: string): string;
  expect(requestId: string): Promise<unknown>;
}

/** Where custom resources PUT their answer to CloudFormation (a pre-signed S3 URL, as on AWS). */
async function startResponseListener(region: string): Promise<ResponseListener> {
  const waiting = new Map<string, (body: unknown) => void>();
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://box').pathname);
    const requestId = path.slice(path.lastIndexOf('|') + 1);
    res.writeHead(200).end();
    waiting.get(requestId)?.(JSON.parse(body || '{}'));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const host = `cloudformation-custom-resource-response-${region.replaceAll('-', '')}.s3.amazonaws.com`;
  return {
    host,
    localUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    urlFor: (stackId, logicalId, requestId) =>
      `https://${host}/${encodeURIComponent(`${stackId}|${logicalId}|${requestId}`)}` +
      `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=${new Date().toISOString().replace(/[-:]|\.\d+/g, '')}` +
      `&X-Amz-Expires=7200&X-Amz-SignedHeaders=host&X-Amz-Signature=${randomBytes(32).toString('hex')}`,
    expect: (requestId) => new Promise((resolve) => waiting.set(requestId, resolve)),
  };
}
