import type { RunStore } from '../../../core/ports/run-store.ts';
import type { HttpResponse } from '../types.ts';
import { html } from '../../../core/format/html.ts';
import { formatUsd } from '../../../core/format/usd.ts';
import { htmlPage } from './html.ts';

/**
 * Approvals waiting for a human. Deciding is the approval page's job (/approvals/<id>):
 * this list only links there. A run waits on at most one approval and its record names
 * it, so paused runs are the index (as in GET /v1/approvals).
 */

const MAX_LISTED = 100;

export async function approvalsPage(store: RunStore): Promise<HttpResponse> {
  const paused = await store.listRuns({ status: 'paused', limit: MAX_LISTED });
  const pending = [];
  for (const run of paused) {
    if (!run.pendingApprovalId) continue;
    const record = await store.getApproval(run.pendingApprovalId);
    if (record?.status === 'pending') pending.push({ run, record });
  }
  const body = html`<h1>Pending approvals</h1>
${
  pending.length === 0
    ? html`<p class="muted">Nothing is waiting for a human.</p>`
    : html`<table><thead><tr><th>Approval</th><th>Run</th><th>Agent</th><th>Asks for</th><th>Why</th><th>Approvers</th><th>Requested (UTC)</th><th>Expires (UTC)</th></tr></thead><tbody>
${pending.map(({ run, record }) => html`<tr><td><a href="/approvals/${encodeURIComponent(record.approvalId)}">${record.approvalId}</a></td><td><a href="/console/runs/${encodeURIComponent(run.runId)}">${run.runId}</a></td><td>${run.agent}</td><td>${record.budget ? `budget ${record.budget.name}: +${formatUsd(record.budget.amountMicros)}` : record.tools.join(', ')}</td><td>${record.reasons.join('; ')}</td><td>${record.approvers.join(', ') || 'any approver'}</td><td>${record.createdAt.replace('T', ' ').slice(0, 19)}</td><td>${record.expiresAt.replace('T', ' ').slice(0, 19)}</td></tr>`)}
</tbody></table>`
}
${paused.length >= MAX_LISTED ? html`<p class="muted">Showing the ${MAX_LISTED} newest paused runs.</p>` : ''}`;
  return htmlPage(200, 'Approvals', '/console/approvals', body);
}
