import { RunStatus, StopReason, TriggerInfo, runUsage, type RunMeta } from '../../../core/definitions/run.ts';
import { triggerKindsWith } from '../../../core/definitions/trigger-kinds.ts';
import * as z from '../../../core/definitions/zod.ts';
import type { RunStore } from '../../../core/ports/run-store.ts';
import { decodeCursor, nextCursor } from '../api/cursor.ts';
import { parseQuery } from '../router.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';
import { html } from '../../../core/format/html.ts';
import { formatUsd } from '../../../core/format/usd.ts';
import { count, href, htmlPage } from './html.ts';

/** The runs list: plain GET filters (agent, status, stop reason, trigger, time), newest first, a page at a time. */

/** An empty form field means "any". */
const optional = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.transform((value) => (value === '' ? undefined : value)),
    z.optional(schema),
  );
const Day = z.string().check(
  z.regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD'),
  z.refine((text) => !Number.isNaN(Date.parse(`${text}T00:00:00Z`)), 'expected a real date'),
);

export const RunsFilter = z.strictObject({
  agent: optional(z.string().check(z.maxLength(128))),
  status: optional(RunStatus),
  stopReason: optional(StopReason),
  trigger: optional(TriggerInfo.shape.kind),
  from: optional(Day),
  to: optional(Day),
  limit: optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100))),
  cursor: optional(z.string().check(z.maxLength(512))),
});
export type RunsFilter = z.infer<typeof RunsFilter>;

const DEFAULT_LIMIT = 50;

export interface RunsPageDeps {
  store: RunStore;
  agents: () => Promise<string[]>;
}

export async function runsPage(deps: RunsPageDeps, request: HttpRequest): Promise<HttpResponse> {
  const filter = parseQuery(request, RunsFilter);
  if (filter.from && filter.to && filter.from > filter.to) {
    return htmlPage(
      400,
      'Runs',
      '/console/runs',
      html`<h1>Runs</h1><p class="error" role="alert">query.from: the first day (${filter.from}) is after the last (${filter.to})</p><p><a href="/console/runs">Clear the filters</a></p>`,
    );
  }
  const limit = filter.limit ?? DEFAULT_LIMIT;
  const declared = await deps.agents();
  const runs = await deps.store.listRuns({
    agent: filter.agent,
    // The declared agents' index partitions, not a scan of the whole table (traces included).
    agents: declared,
    status: filter.status,
    role: 'maker',
    stopReason: filter.stopReason,
    triggerKind: filter.trigger,
    createdFrom: filter.from ? `${filter.from}T00:00:00.000Z` : undefined,
    createdBefore: filter.to
      ? new Date(Date.parse(`${filter.to}T00:00:00.000Z`) + 86_400_000).toISOString()
      : undefined,
    limit,
    cursor: decodeCursor(filter.cursor),
  });
  const next = nextCursor(runs, limit);
  const kept = {
    agent: filter.agent,
    status: filter.status,
    stopReason: filter.stopReason,
    trigger: filter.trigger,
    from: filter.from,
    to: filter.to,
    limit: filter.limit,
  };
  const body = html`<h1>Runs</h1>
${filterForm(filter, declared)}
${filter.agent ? '' : html`<p class="muted">Runs of the ${declared.length} declared agents, newest first. A removed agent's runs show when it is named: <code>?agent=&lt;name&gt;</code>.</p>`}
${runs.length === 0 ? html`<p class="muted">No runs match these filters.</p>` : runsTable(runs)}
<div class="pager">${filter.cursor ? html`<a href="${href('/console/runs', kept)}">First page</a>` : ''}${next ? html`<a href="${href('/console/runs', { ...kept, cursor: next })}" rel="next">Next page</a>` : ''}</div>`;
  return htmlPage(200, 'Runs', '/console/runs', body);
}

function select(name: string, label: string, options: readonly string[], value: string | undefined) {
  return html`<label>${label}<select name="${name}"><option value="">any</option>${options.map((option) => html`<option${option === value ? html` selected` : ''}>${option}</option>`)}</select></label>`;
}

function filterForm(filter: RunsFilter, agents: string[]) {
  // An agent named in the URL stays selectable even when the catalog no longer declares it.
  const agentOptions = filter.agent && !agents.includes(filter.agent) ? [...agents, filter.agent] : agents;
  return html`<form class="filters" method="get" action="/console/runs" aria-label="filter runs">
${select('agent', 'Agent', agentOptions, filter.agent)}
${select('status', 'Status', RunStatus.options, filter.status)}
${select('stopReason', 'Stop reason', StopReason.options, filter.stopReason)}
${select('trigger', 'Trigger', triggerKindsWith('listFilter'), filter.trigger)}
<label>From<input type="date" name="from" value="${filter.from ?? ''}"></label>
<label>To<input type="date" name="to" value="${filter.to ?? ''}"></label>
<button type="submit">Filter</button> <a href="/console/runs">Clear</a>
</form>`;
}

function runsTable(runs: RunMeta[]) {
  return html`<table><thead><tr><th>Created (UTC)</th><th>Run</th><th>Agent</th><th>Trigger</th><th>Outcome</th><th class="num">Steps</th><th class="num">Model calls</th><th class="num">Tool calls</th><th class="num">Tokens</th><th class="num">Cost</th></tr></thead><tbody>
${runs.map((run) => {
  const usage = runUsage(run);
  const outcome = run.stopReason ?? run.status;
  return html`<tr><td>${run.createdAt.replace('T', ' ').slice(0, 19)}</td><td><a href="/console/runs/${encodeURIComponent(run.runId)}">${run.runId}</a></td><td>${run.agent}</td><td>${run.trigger.kind}</td><td class="${outcome}">${outcome}${run.pendingApprovalId ? html` · <a href="/approvals/${encodeURIComponent(run.pendingApprovalId)}">approval</a>` : ''}</td><td class="num">${count(run.traceCount)}</td><td class="num">${count(run.modelCalls)}</td><td class="num">${count(run.toolCalls)}</td><td class="num">${count(usage.inputTokens + usage.outputTokens)}</td><td class="num">${formatUsd(usage.costMicros)}</td></tr>`;
})}</tbody></table>`;
}
