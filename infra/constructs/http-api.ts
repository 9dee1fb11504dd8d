import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  type HttpRoute,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { acknowledgeWildcardResource } from '../nag/acknowledge.ts';
import { secretArn } from './catalog-access.ts';
import { functionEnvironment } from '../../functions/_shared/env-contract.ts';
import { HandlerFunction } from './handler-function.ts';
import type { RunTable } from './run-table.ts';
import { catalogBundling, type LogLevel } from './step-functions.ts';

export interface LooprailHttpApiProps {
  /** The validated catalog: the app reads it (runs, inventory, webhooks), so it is bundled in. */
  readonly catalog: Catalog;
  readonly table: RunTable;
  /** The agent-run state machine: the API starts and cancels its executions. */
  readonly stateMachine: Pick<StateMachine, 'stateMachineArn' | 'stateMachineName'>;
  /** Days a run's messages and trace events live. Default: 90. */
  readonly traceTtlDays?: number;
  /** Default: 'info'. */
  readonly logLevel?: LogLevel;
  /** The function's and the access log's retention. Default: ONE_MONTH. */
  readonly logRetention?: RetentionDays;
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Default: DEFAULT_API_THROTTLE. */
  readonly throttle?: ThrottleSettings;
  /** Default: the repository root. */
  readonly projectRoot?: string;
}

/** Every route of the stage: steady requests per second, and the burst above it. */
export const DEFAULT_API_THROTTLE: Required<ThrottleSettings> = { rateLimit: 50, burstLimit: 100 };

/**
 * One JSON line per request (cdk-nag APIG1 and structured logging). The caller's IAM
 * identity for /v1; no query string and no headers, so no signature or token is logged.
 */
const ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  sourceIp: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
};

/**
 * The one HTTP app (functions/http/handler.ts) behind an API Gateway HTTP API:
 * - `ANY /v1/{proxy+}`: the REST API, IAM-authorized (SigV4); the app refuses /v1
 *   without a verified caller too;
 * - `GET /console`, `GET /console/{proxy+}`: the web console's pages, IAM-authorized the same way;
 * - `GET /openapi.json`: the API's description, public;
 * - `POST /webhooks/{agent}`: no API Gateway authorizer; a delivery proves itself with
 *   its HMAC signature, verified by the app before anything is stored or started;
 * - JSON access logs to a log group with a retention, default throttling on the stage.
 *
 * The function's own role may read/write the run table's items, start executions of the
 * agent-run state machine, stop its executions (cancel), and read the webhook signing
 * secrets the agents name in `trigger.webhook.secret`; nothing else.
 */
export class LooprailHttpApi extends Construct {
  readonly handler: HandlerFunction;
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  /** By route key (`ANY /v1/{proxy+}`, …). */
  readonly routes = new Map<string, HttpRoute>();

  constructor(scope: Construct, id: string, props: LooprailHttpApiProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;

    const base = { tableName: props.table.tableName, traceTtlDays: props.traceTtlDays, logLevel: props.logLevel };
    this.handler = new HandlerFunction(this, 'App', {
      entry: 'functions/http/handler.ts',
      description: 'The looprail HTTP app: REST API, OpenAPI document, signed webhooks',
      memorySize: 512,
      // API Gateway gives up on an integration after 30 s.
      timeout: Duration.seconds(29),
      environment: functionEnvironment('trigger', base, {
        LOOPRAIL_STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
      }),
      logRetention,
      logRemovalPolicy,
      projectRoot: props.projectRoot,
      bundling: catalogBundling(props.catalog, stack.bundlingRequired),
    });
    this.grant(props);

    this.api = new HttpApi(this, 'Api', {
      apiName: `${stack.stackName}-api`,
      description: 'looprail: REST API (IAM), OpenAPI document, signed webhooks',
      createDefaultStage: false,
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: logRetention, removalPolicy: logRemovalPolicy });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle ?? DEFAULT_API_THROTTLE,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FORMAT)),
      },
    });

    const integration = new HttpLambdaIntegration('App', this.handler.function);
    const route = (path: string, method: HttpMethod, authorizer?: HttpIamAuthorizer): HttpRoute => {
      const [added] = this.api.addRoutes({ path, methods: [method], integration, authorizer });
      this.routes.set(`${method} ${path}`, added!);
      return added!;
    };
    route('/v1/{proxy+}', HttpMethod.ANY, new HttpIamAuthorizer());
    // The console's read-only pages, behind the same IAM authorization as the API.
    route('/console', HttpMethod.GET, new HttpIamAuthorizer());
    route('/console/{proxy+}', HttpMethod.GET, new HttpIamAuthorizer());
    const openApi = route('/openapi.json', HttpMethod.GET);
    const webhooks = route('/webhooks/{agent}', HttpMethod.POST);
    Validations.of(openApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'GET /openapi.json serves the static OpenAPI description of the API (paths and schemas, no data); clients and the CLI read it before they hold credentials.',
    });
    Validations.of(webhooks).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        "Webhook senders (GitHub and others) cannot sign with AWS credentials: each delivery is authenticated by its HMAC signature over the raw body with the agent's own secret (constant-time compare, replay window), verified by the app before anything is stored or started; unknown agents and bad signatures get 404/401.",
    });
  }

  /** The API's endpoint (the $default stage, so no stage in the path). */
  get url(): string {
    return this.stage.url;
  }

  private grant(props: LooprailHttpApiProps): void {
    const stack = Stack.of(this);
    const role = this.handler.role;
    props.table.grantReadWriteItems(role);
    props.table.grantRunListings(role); // GET /v1/runs, /v1/approvals and the console's lists
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['states:StartExecution'], resources: [props.stateMachine.stateMachineArn] }),
    );

    // Cancel: an execution is named by its run id, so its ARN is known but not before the run exists.
    const executions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['states:StopExecution'], resources: [executions] }));
    acknowledgeWildcardResource(
      role,
      executions,
      'Cancelling a run stops its execution, named by the run id at run time; the wildcard is the execution name only, within the one agent-run state machine.',
    );

    const secrets = webhookSecrets(props.catalog).map((name) => secretArn(stack, name));
    if (secrets.length > 0)
      role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: secrets }),
      );
  }
}

/** The signing secrets the agents' `trigger.webhook.secret` name, once each, sorted. */
export function webhookSecrets(catalog: Catalog): string[] {
  const names = Object.values(catalog.agents).flatMap((entry) =>
    entry.trigger?.webhook ? [entry.trigger.webhook.secret] : [],
  );
  return [...new Set(names)].sort();
}
