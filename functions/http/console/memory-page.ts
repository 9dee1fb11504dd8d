import type { Catalog } from '../../../core/definitions/catalog.ts';
import { resolveMemory } from '../../../core/definitions/memory.ts';
import { ConfigurationError, NotFoundError } from '../../../core/errors.ts';
import { html } from '../../../core/format/html.ts';
import { ledgerNow } from '../../../core/memory/operations.ts';
import type { MemoryStore } from '../../../core/ports/memory-store.ts';
import type { HttpResponse } from '../types.ts';
import { htmlPage } from './html.ts';

/**
 * One agent's loop memory (docs/loop-memory.md): its work ledger by state, its handoff
 * note versions and what operators did, each linked to the run that wrote it. Read-only:
 * operator actions are the CLI's (`looprail memory`).
 */

const NOTES_SHOWN = 50;
const ACTIONS_SHOWN = 50;

const runLink = (runId: string | undefined) =>
  runId && runId !== 'operator'
    ? html`<a href="/console/runs/${encodeURIComponent(runId)}">${runId}</a>`
    : html`<span class="muted">${runId ?? '—'}</span>`;

const time = (iso: string | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '');

export async function memoryPage(
  deps: { memory?: MemoryStore; catalog: () => Promise<Catalog>; now: () => Date },
  agent: string,
): Promise<HttpResponse> {
  const entry = (await deps.catalog()).agents[agent];
  if (!entry) throw new NotFoundError(`unknown agent "${agent}"`);
  const policy = resolveMemory(entry.spec.memory);
  if (!policy) throw new NotFoundError(`agent "${agent}" declares no memory`);
  if (!deps.memory) throw new ConfigurationError('this host was composed without the memory store');
  const items = await ledgerNow(deps.memory, agent, deps.now());
  const notes = await deps.memory.listNotes(agent, NOTES_SHOWN);
  const actions = await deps.memory.listOperatorActions(agent, ACTIONS_SHOWN);
  const body = html`<h1>Memory of ${agent}</h1>
<p class="muted">Lease ${policy.leaseSeconds} s · ${policy.maxAttempts} attempts, then needs_human · kept ${Math.round(policy.retentionSeconds / 86_400)} days after the last write.</p>
<h2>Work ledger</h2>
${
  items.length === 0
    ? html`<p class="muted">The ledger is empty.</p>`
    : html`<table><thead><tr><th>Item</th><th>State</th><th class="num">Attempts</th><th>Run</th><th>Updated (UTC)</th><th>Claim until (UTC)</th><th>Outcome</th><th>Operator</th></tr></thead><tbody>
${items.map(
  (item) =>
    html`<tr><td><code>${item.id}</code></td><td class="${item.state}">${item.state}</td><td class="num">${item.attempts}/${policy.maxAttempts}</td><td>${runLink(item.runId)}</td><td>${time(item.updatedAt)}</td><td>${time(item.leaseUntil)}</td><td>${item.outcome ?? ''}</td><td>${item.operator ? `${item.operator.action} by ${item.operator.by} at ${time(item.operator.at)}` : ''}</td></tr>`,
)}
</tbody></table>`
}
<h2>Handoff notes</h2>
${
  notes.length === 0
    ? html`<p class="muted">No note yet.</p>`
    : notes.map(
        (note) =>
          html`<section class="card" id="note-${note.version}"><p>Version ${note.version} · run ${runLink(note.runId)} · ${time(note.at)}${note.source && note.source !== 'tool' ? ` · ${note.source.replace('_', ' ')}` : ''}</p><pre>${note.text}</pre></section>`,
      )
}
${
  actions.length === 0
    ? ''
    : html`<h2>Operator actions</h2><table><thead><tr><th>When (UTC)</th><th>Action</th><th>Item</th><th>By</th><th>What</th></tr></thead><tbody>
${actions.map((action) => html`<tr><td>${time(action.at)}</td><td>${action.action}</td><td>${action.itemId ?? ''}</td><td>${action.by}</td><td>${action.detail}</td></tr>`)}
</tbody></table>`
}`;
  return htmlPage(200, `Memory of ${agent}`, '/console/inventory', body);
}
