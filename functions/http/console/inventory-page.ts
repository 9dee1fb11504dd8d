import type { InventoryEntry, InventoryTool } from '../../../core/policy/inventory.ts';
import type { HttpResponse } from '../types.ts';
import { html, type Html } from '../../../core/format/html.ts';
import { htmlPage } from './html.ts';
import { formatUsdAmount } from '../../../core/format/usd.ts';

/** Every loop: owner, triggers, model, limits, budgets and what it can touch (the same inventory as `looprail inventory`). */

export function inventoryPage(entries: InventoryEntry[]): HttpResponse {
  const body = html`<h1>Inventory</h1>
<p class="muted">${entries.length} agent${entries.length === 1 ? '' : 's'}, from the declarations alone; a run may narrow what a loop can touch further.</p>
${entries.map(agentCard)}`;
  return htmlPage(200, 'Inventory', '/console/inventory', body);
}

function agentCard(entry: InventoryEntry): Html {
  const triggers = [
    entry.triggers.schedule
      ? `schedule ${entry.triggers.schedule}${entry.triggers.timezone ? ` (${entry.triggers.timezone})` : ''}`
      : '',
    entry.triggers.event ? `events ${JSON.stringify(entry.triggers.event)}` : '',
    entry.triggers.webhook ?? '',
  ].filter(Boolean);
  const limits = [
    `${entry.limits.maxSteps} steps`,
    entry.limits.maxTokens ? `${entry.limits.maxTokens.toLocaleString('en-US')} tokens` : '',
    entry.limits.maxCostUsd !== undefined ? formatUsdAmount(entry.limits.maxCostUsd) : '',
    entry.limits.maxDurationSeconds ? `${entry.limits.maxDurationSeconds} s` : '',
  ].filter(Boolean);
  return html`<section class="card" id="agent-${entry.agent}" aria-labelledby="title-${entry.agent}">
<h2 id="title-${entry.agent}">${entry.agent}${entry.enabled ? '' : html` <span class="tag write">paused</span>`}</h2>
${entry.description ? html`<p>${entry.description}</p>` : ''}
<dl class="facts">
<dt>Owner</dt><dd>${entry.owner ?? 'none'}${entry.team ? ` · team ${entry.team}` : ''}</dd>
<dt>Definition</dt><dd><code>${entry.file}</code></dd>
<dt>Triggers</dt><dd>${triggers.join(' · ') || 'started by API or CLI only'}</dd>
<dt>Model</dt><dd>${entry.model} (${entry.provider})${entry.fallbackModel ? ` · fallback ${entry.fallbackModel}` : ''}</dd>
<dt>Limits</dt><dd>${limits.join(', ')}</dd>
<dt>Budgets</dt><dd>${entry.budgets.join('; ') || 'none'}</dd>
${entry.memory ? html`<dt>Memory</dt><dd>${entry.memory} · <a href="/console/agents/${encodeURIComponent(entry.agent)}/memory">ledger and notes</a></dd>` : ''}
${entry.heldUntilVerified ? html`<dt>Held until verified</dt><dd>${entry.heldUntilVerified.join(', ')}</dd>` : ''}
<dt>Approval rules</dt><dd>${entry.approvalRules.join('; ') || 'none (destructive tools still pause)'}</dd>
<dt>Runs</dt><dd><a href="/console/runs?agent=${encodeURIComponent(entry.agent)}">recent runs</a></dd>
</dl>
<h3>Can call</h3>${toolsTable(entry.tools)}
${entry.subagents.map((sub) => html`<h3>Sub-agent ${sub.name} <span class="muted">(${sub.role}, ${sub.model})</span></h3>${toolsTable(sub.tools)}`)}
</section>`;
}

function toolsTable(tools: InventoryTool[]): Html {
  if (tools.length === 0) return html`<p class="muted">No tools.</p>`;
  return html`<table><thead><tr><th>Tool</th><th>Kind</th><th>Pauses for approval</th><th class="num">Rate limit</th></tr></thead><tbody>
${tools.map((tool) => {
  const kind = tool.destructive ? 'destructive' : tool.readOnly ? 'read-only' : 'write';
  return html`<tr><td><code>${tool.tool}</code></td><td><span class="tag ${kind}">${kind}</span></td><td>${tool.approval?.join('; ') ?? ''}</td><td class="num">${tool.rateLimitPerMinute ? `${tool.rateLimitPerMinute}/min` : ''}</td></tr>`;
})}</tbody></table>`;
}
