import type { Catalog } from '../../../core/definitions/catalog.ts';
import { ConfigurationError, NotFoundError } from '../../../core/errors.ts';
import { html } from '../../../core/format/html.ts';
import { agentMemory, readMemory } from '../../../core/memory/operator.ts';
import type { MemoryStore } from '../../../core/ports/memory-store.ts';
import type { HttpResponse } from '../types.ts';
import { htmlPage } from './html.ts';

/**
 * One agent's loop memory (docs/loop-memory.md): its work ledger by state, its handoff
 * note versions and what operators did, each linked to the run that wrote it. Read-only:
 * operator actions are `looprail memory` (with `--url` on a deployed stack) and the API's
 * POST /v1/agents/{agent}/memory.
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
  const found = agentMemory(await deps.catalog(), agent);
  if (found.kind !== 'memory') throw new NotFoundError(found.message);
  const { policy } = found;
  if (!deps.memory) throw new ConfigurationError('this host was composed without the memory store');
  const query = { notes: NOTES_SHOWN, actions: ACTIONS_SHOWN };
  const { items, notes, operatorActions: actions } = await readMemory(deps.memory, agent, policy, query, deps.now());
  const body = html`<h1>Memory of ${agent}</h1>
<p class="muted">Lease ${policy.leaseSeconds} s · ${policy.maxAttempts} attempts, then needs_human · kept ${Math.round(policy.retentionSeconds / 86_400)} days after the last write.</p>
<h2>Work ledger</h2>
<p class="muted">To reopen an item, mark one done or clear the ledger: <code>looprail memory ${agent} --reopen &lt;id&gt; --url &lt;ApiUrl&gt;</code> (or <code>--done</code>, <code>--clear</code>), or <code>POST /v1/agents/${agent}/memory</code>; each is recorded with who and when.</p>
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
