import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BoxLambdas } from './lambdas.ts';
import type { BoxIam } from './model.ts';
import type { BoxTemplate } from './template.ts';

/**
 * API Gateway (HTTP API) in a box: the template's routes, matched as API Gateway matches
 * them (exact route first, then the greedy `{proxy+}`), AWS_IAM routes checked — a valid
 * SigV4 signature for `execute-api` and `execute-api:Invoke` allowed for the caller — and
 * each integration's function invoked with a payload format 2.0 event, as permitted by
 * its Lambda permission. Answers 403 `{"message":"Forbidden"}` as API Gateway does.
 */

interface Route {
  method: string;
  path: string;
  routeKey: string;
  iam: boolean;
  functionArn: string;
  pattern: RegExp;
  parameters: string[];
}

export type SignatureCheck = (request: {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
}) => Promise<{ accessKeyId: string } | { error: string }>;

export interface ApiRequestRecord {
  routeKey: string | undefined;
  status: number;
  caller: string | undefined;
}

export class BoxHttpApi {
  readonly requests: ApiRequestRecord[] = [];
  url = '';
  private readonly routes: Route[];
  private readonly apiId: string;
  private server?: Server;
  private readonly options: {
    template: BoxTemplate;
    lambdas: BoxLambdas;
    iam: BoxIam;
    verifySignature: SignatureCheck;
  };

  constructor(options: BoxHttpApi['options']) {
    this.options = options;
    const { template } = options;
    const [api] = template.ofType('AWS::ApiGatewayV2::Api');
    if (!api) throw new Error('the template has no HTTP API');
    this.apiId = template.ref(api);
    const integrations = new Map(
      template
        .ofType('AWS::ApiGatewayV2::Integration')
        .map((id) => [template.ref(id), String(template.properties(id).IntegrationUri)]),
    );
    this.routes = template.ofType('AWS::ApiGatewayV2::Route').map((id) => {
      const p = template.properties(id);
      const [method = '', path = ''] = String(p.RouteKey).split(' ');
      const integration = String(p.Target).replace(/^integrations\//, '');
      const functionArn = integrations.get(integration);
      if (!functionArn) throw new Error(`route ${p.RouteKey} targets an unknown integration ${integration}`);
      const parameters: string[] = [];
      const pattern = new RegExp(
        `^${path.replace(/\{(\w+)(\+?)\}/g, (_, name: string, greedy: string) => {
          parameters.push(name);
          return greedy ? '(.+)' : '([^/]+)';
        })}$`,
      );
      return {
        method,
        path,
        routeKey: String(p.RouteKey),
        iam: p.AuthorizationType === 'AWS_IAM',
        functionArn,
        pattern,
        parameters,
      };
    });
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ message: error.message }));
      });
    });
    this.server.listen(0, '127.0.0.1');
    await new Promise((resolve) => this.server!.once('listening', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve) ?? resolve(undefined));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(',') : String(value),
      ]),
    );
    const route = this.match(method, url.pathname);
    const answer = (status: number, message: string, caller?: string) => {
      this.requests.push({ routeKey: route?.routeKey, status, caller });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message }));
    };
    if (!route) return answer(404, 'Not Found');
    let caller: { accessKeyId: string; arn: string } | undefined;
    if (route.iam) {
      const signature = await this.options.verifySignature({ method, url, headers, body });
      if ('error' in signature) return answer(403, 'Forbidden');
      const { accountId, partition, region } = this.options.template.account;
      const resource = `arn:${partition}:execute-api:${region}:${accountId}:${this.apiId}/$default/${method}${url.pathname}`;
      const verdict = await this.options.iam.authorize({
        accessKeyId: signature.accessKeyId,
        action: 'execute-api:Invoke',
        resources: [resource],
      });
      if (!verdict.allowed) return answer(403, 'Forbidden', verdict.principalArn);
      caller = { accessKeyId: signature.accessKeyId, arn: verdict.principalArn };
    }
    const permitted = await this.options.iam.authorizeService({
      servicePrincipal: 'apigateway.amazonaws.com',
      action: 'lambda:InvokeFunction',
      resource: route.functionArn,
      sourceArn: this.sourceArn(method, route.path),
    });
    if (!permitted.allowed) return answer(500, 'Internal Server Error');
    const result = await this.options.lambdas.invoke(
      route.functionArn,
      this.event(route, method, url, headers, body, caller),
    );
    if (!result.ok) return answer(500, 'Internal Server Error', caller?.arn);
    this.requests.push({ routeKey: route.routeKey, status: responseStatus(result.payload), caller: caller?.arn });
    writeResult(res, result.payload);
  }

  /** The ARN a route's Lambda permission names as its source: `…:<api>/*\/<METHOD>/<path>`. */
  private sourceArn(method: string, path: string): string {
    const { accountId, partition, region } = this.options.template.account;
    return `arn:${partition}:execute-api:${region}:${accountId}:${this.apiId}/$default/${method}${path}`;
  }

  private match(method: string, path: string): Route | undefined {
    const candidates = this.routes.filter((route) => route.method === method || route.method === 'ANY');
    const exact = candidates.find((route) => route.path === path);
    if (exact) return exact;
    // The most specific match wins: fewer parameters, then non-greedy before greedy.
    return candidates
      .filter((route) => route.pattern.test(path))
      .sort(
        (a, b) =>
          Number(a.path.includes('+}')) - Number(b.path.includes('+}')) || a.parameters.length - b.parameters.length,
      )[0];
  }

  private event(
    route: Route,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer,
    caller: { accessKeyId: string; arn: string } | undefined,
  ): unknown {
    const values = route.pattern.exec(url.pathname)?.slice(1) ?? [];
    const { accountId } = this.options.template.account;
    const textual = /^(application\/(json|x-www-form-urlencoded)|text\/)/.test(headers['content-type'] ?? 'text/');
    return {
      version: '2.0',
      routeKey: route.routeKey,
      rawPath: url.pathname,
      rawQueryString: url.search.replace(/^\?/, ''),
      headers,
      ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
      ...(route.parameters.length
        ? { pathParameters: Object.fromEntries(route.parameters.map((name, index) => [name, values[index]])) }
        : {}),
      requestContext: {
        accountId,
        apiId: this.apiId,
        domainName: url.host,
        http: {
          method,
          path: url.pathname,
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: headers['user-agent'] ?? '',
        },
        requestId: randomUUID(),
        routeKey: route.routeKey,
        stage: '$default',
        time: new Date().toUTCString(),
        timeEpoch: Date.now(),
        ...(caller
          ? {
              authorizer: {
                iam: {
                  accessKey: caller.accessKeyId,
                  accountId,
                  userArn: caller.arn,
                  userId: caller.arn.split('/').pop(),
                },
              },
            }
          : {}),
      },
      ...(body.length > 0
        ? textual
          ? { body: body.toString('utf8'), isBase64Encoded: false }
          : { body: body.toString('base64'), isBase64Encoded: true }
        : { isBase64Encoded: false }),
    };
  }
}

function responseStatus(payload: unknown): number {
  return payload && typeof payload === 'object' && 'statusCode' in payload ? Number(payload.statusCode) : 200;
}

/** Payload format 2.0 responses: a structured result, or any other value as a JSON 200. */
function writeResult(res: ServerResponse, payload: unknown): void {
  if (!payload || typeof payload !== 'object' || !('statusCode' in payload)) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    return;
  }
  const result = payload as {
    statusCode: number;
    headers?: Record<string, string>;
    body?: string;
    isBase64Encoded?: boolean;
    cookies?: string[];
  };
  const headers: Record<string, string | string[]> = { ...(result.headers ?? {}) };
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  res.writeHead(result.statusCode, headers);
  res.end(result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'));
}
