import type { RunDeps } from '../../core/run/deps.ts';
import { withApprovalFlow } from '../_shared/approvals.ts';
import { lambdaDeps } from '../_shared/runtime.ts';
import { registerApprovalRoutes } from '../http/approval-pages.ts';
import { httpHandler, type HttpApp } from '../http/api-gateway.ts';
import { Router } from '../http/router.ts';

/**
 * The approval handler: the only function allowed to resume executions
 * (states:SendTaskSuccess / SendTaskFailure). API Gateway routes `/approvals/{id}` (the
 * signed-link pages) and `POST /v1/approvals/{id}/decision` (IAM) here; nothing else.
 */

let cached: HttpApp | undefined;

export function approvalApp(deps: RunDeps): HttpApp {
  const router = new Router({ log: deps.log });
  registerApprovalRoutes(router, deps);
  return router.handle;
}

export const handler = httpHandler(() => (cached ??= approvalApp(withApprovalFlow(lambdaDeps(), { decide: true }))));
