import { registerApprovalRoutes } from '../approval-pages.ts';
import { registerConsole } from '../console/index.ts';
import { HttpError, json, Router } from '../router.ts';
import { handleWebhook } from '../webhooks.ts';
import { approvalOperations } from './approvals.ts';
import { costOperations } from './costs.ts';
import { inventoryOperations } from './inventory.ts';
import { memoryOperations } from './memory.ts';
import { openApiDocument } from './openapi.ts';
import type { ApiDeps, Operation } from './operation.ts';
import { runOperations } from './runs.ts';

/**
 * The REST API under `/v1`: thin handlers over the core, one module per resource. Every
 * trigger's start path (`startRun`) and the run store do the work; the handlers validate
 * what comes in (zod), shape what goes out (zod schemas too, so `/openapi.json` is
 * generated from the very schemas the handlers use) and map the core's errors to HTTP answers.
 *
 * Authentication is the host's: API Gateway's IAM authorizer on AWS, a bearer token on
 * the local server. Handlers read `request.principal` and record it on what they start.
 */

function apiOperations(deps: ApiDeps): Operation[] {
  return [
    ...runOperations(deps),
    ...costOperations(deps),
    ...approvalOperations(deps),
    ...inventoryOperations(deps),
    ...memoryOperations(deps),
  ];
}

export function createApi(deps: ApiDeps): Router {
  const router = new Router({ log: deps.log });
  const operations = apiOperations(deps);
  for (const operation of operations) router.add(operation.method, operation.path, operation.handle);
  // Built on the first request for it, not with the app: a cold start serves a page or a
  // decision sooner, and converting every schema is work only /openapi.json needs.
  let document: ReturnType<typeof openApiDocument> | undefined;
  router.get('/openapi.json', async () => json(200, (document ??= openApiDocument(operations))));
  // The web console: HTML pages over the same store, behind the same authentication as /v1.
  registerConsole(router, deps);
  // Outside /v1: approval pages prove the approver by a signed, per-recipient link (plus the operator's /v1 decision).
  registerApprovalRoutes(router, deps);
  // Outside /v1 too: a webhook proves itself by its signature, not by the API's credentials.
  router.post('/webhooks/:agent', async (request, params) => {
    if (!deps.secrets)
      throw new HttpError(503, 'webhooks_unavailable', 'webhooks need a secret store, and none is configured');
    return handleWebhook(deps, params.agent!, request, { secrets: deps.secrets });
  });
  return router;
}
