import { lambdaTriggerDeps } from '../_shared/runtime.ts';
import { type HttpApp, httpHandler } from './api-gateway.ts';
import { createApi } from './api/index.ts';

/**
 * The HTTP app's Lambda: the REST API, the console and the webhooks (createApi), behind
 * API Gateway's HTTP API (api-gateway.ts turns its events into requests).
 * The same app runs on the local server (cli/http-server.ts).
 */

let cachedApp: HttpApp | undefined;

/** Built once per container from the shared composition root (env parsed there, once). */
function lambdaApp(): HttpApp {
  cachedApp ??= createApi(lambdaTriggerDeps()).handle;
  return cachedApp;
}

export const handler = httpHandler(lambdaApp);
