import * as z from '../../../core/definitions/zod.ts';
import { json, parseQuery } from '../router.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';
import { decodeCursor, nextCursor, PageCursor, PageLimit } from './cursor.ts';
import type { ApiDeps, Operation } from './operation.ts';

/**
 * Approvals waiting for a human (task tokens never leave the server). Deciding one is the
 * approval routes' job (functions/http/approval-pages.ts), served by the approval function.
 */

export const ListApprovalsQuery = z.strictObject({
  status: z
    ._default(z.literal('pending'), 'pending')
    .check(z.meta({ description: 'only pending approvals are listed' })),
  agent: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  limit: PageLimit,
  cursor: z.optional(PageCursor),
});
export type ListApprovalsQuery = z.input<typeof ListApprovalsQuery>;

export const ApprovalSummary = z.object({
  approvalId: z.string(),
  runId: z.string(),
  agent: z.string(),
  status: z.literal('pending'),
  tools: z.array(z.string()),
  reasons: z.array(z.string()),
  approvers: z.array(z.string()),
  createdAt: z.string(),
  expiresAt: z.string(),
});
export type ApprovalSummary = z.infer<typeof ApprovalSummary>;

export const ApprovalPage = z.object({ approvals: z.array(ApprovalSummary), nextCursor: z.optional(z.string()) });
export type ApprovalPage = z.infer<typeof ApprovalPage>;

async function listPending(deps: Pick<ApiDeps, 'store'>, request: HttpRequest): Promise<HttpResponse> {
  const query = parseQuery(request, ListApprovalsQuery);
  // A run waits on at most one approval, and its record says which: paused runs are the index.
  const cursor = decodeCursor(query.cursor);
  const paused = await deps.store.listRuns({ agent: query.agent, status: 'paused', limit: query.limit, cursor });
  const approvals: ApprovalSummary[] = [];
  for (const run of paused) {
    if (!run.pendingApprovalId) continue;
    const record = await deps.store.getApproval(run.pendingApprovalId);
    if (record?.status !== 'pending') continue;
    approvals.push({
      approvalId: record.approvalId,
      runId: record.runId,
      agent: run.agent,
      status: 'pending',
      tools: record.tools,
      reasons: record.reasons,
      approvers: record.approvers,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
    });
  }
  const page: ApprovalPage = { approvals, nextCursor: nextCursor(paused, query.limit) };
  return json(200, page);
}

export function approvalOperations(deps: Pick<ApiDeps, 'store'>): Operation[] {
  return [
    {
      method: 'GET',
      path: '/v1/approvals',
      operationId: 'listApprovals',
      summary: 'Approvals waiting for a human, newest run first (task tokens never leave the server)',
      query: ListApprovalsQuery,
      responses: { 200: { description: 'one page of pending approvals', schema: ApprovalPage } },
      handle: (request) => listPending(deps, request),
    },
  ];
}
