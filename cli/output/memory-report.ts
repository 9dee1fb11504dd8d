import type { MemoryView } from '../../core/memory/operator.ts';

/**
 * `looprail memory <agent>`: the ledger by state, the handoff notes with their runs and what
 * operators did, the same lines whether the view came from the local state or the API.
 */
export function memoryReport(view: MemoryView): string[] {
  const { agent, policy, items, total, notes, operatorActions } = view;
  const lines = [`${agent} — work ledger (${total} item${total === 1 ? '' : 's'})`];
  if (total === 0) lines.push('  (empty)');
  for (const item of items) {
    const lease = item.state === 'claimed' ? ` until ${item.leaseUntil}` : '';
    const by = item.operator ? ` · ${item.operator.action} by ${item.operator.by} at ${item.operator.at}` : '';
    lines.push(
      `  ${item.state.padEnd(12)} ${item.id.padEnd(28)} ${item.attempts}/${policy.maxAttempts} · run ${item.runId ?? '-'}${lease} · ${item.updatedAt}${item.outcome ? ` · ${item.outcome}` : ''}${by}`,
    );
  }
  if (items.length < total) lines.push(`  … ${total - items.length} more not shown (narrow with --state)`);
  lines.push('', `handoff notes (newest first, ${notes.length})`);
  if (notes.length === 0) lines.push('  (none yet)');
  for (const note of notes) {
    const source = note.source && note.source !== 'tool' ? ` · ${note.source}` : '';
    lines.push(`  v${note.version} · run ${note.runId} · ${note.at}${source}`);
    for (const line of note.text.split('\n')) lines.push(`      ${line}`);
  }
  if (operatorActions.length > 0) {
    lines.push('', 'operator actions (newest first)');
    for (const action of operatorActions) {
      lines.push(
        `  ${action.at} · ${action.action}${action.itemId ? ` ${action.itemId}` : ''} by ${action.by} · ${action.detail}`,
      );
    }
  }
  return lines;
}
