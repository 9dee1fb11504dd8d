import type { InventoryEntry, InventoryTool } from '../../core/policy/inventory.ts';
import { formatUsdAmount } from '../../core/format/usd.ts';

function toolLine(tool: InventoryTool): string {
  const kind = tool.destructive ? 'DESTRUCTIVE' : tool.readOnly ? 'read-only' : 'write';
  const extra = [
    tool.approval ? `pauses for approval: ${tool.approval.join('; ')}` : '',
    tool.rateLimitPerMinute ? `${tool.rateLimitPerMinute}/min` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  return `${tool.tool.padEnd(36)} ${kind}${extra ? ` · ${extra}` : ''}`;
}

/** The inventory as text for a terminal: one block per agent. */
export function inventoryText(entries: InventoryEntry[]): string {
  const blocks = entries.map((entry) => {
    const trigger =
      [
        entry.triggers.schedule
          ? `schedule ${entry.triggers.schedule}${entry.triggers.timezone && entry.triggers.timezone !== 'UTC' ? ` ${entry.triggers.timezone}` : ''}`
          : '',
        entry.triggers.event ? 'on events' : '',
        entry.triggers.webhook ?? '',
      ]
        .filter(Boolean)
        .join(', ') || 'started by API/CLI only';
    const limits = [
      `${entry.limits.maxSteps} steps`,
      entry.limits.maxTokens ? `${entry.limits.maxTokens.toLocaleString('en-US')} tokens` : '',
      entry.limits.maxCostUsd !== undefined ? formatUsdAmount(entry.limits.maxCostUsd) : '',
      entry.limits.maxDurationSeconds ? `${entry.limits.maxDurationSeconds} s` : '',
    ]
      .filter(Boolean)
      .join(', ');
    const lines = [
      `${entry.agent}${entry.enabled ? '' : ' (PAUSED)'} — ${entry.owner ?? 'no owner'}${entry.team ? ` · team ${entry.team}` : ''} · ${trigger}`,
      `  ${entry.file}${entry.description ? ` · ${entry.description}` : ''}`,
      `  model ${entry.model} (${entry.provider})${entry.fallbackModel ? `, fallback ${entry.fallbackModel}` : ''} · limits: ${limits}`,
      `  budgets: ${entry.budgets.join('; ') || 'none'}`,
      ...(entry.memory ? [`  memory: ${entry.memory}`] : []),
      ...(entry.heldUntilVerified ? [`  held until verified: ${entry.heldUntilVerified.join(', ')}`] : []),
      `  can call:`,
      ...(entry.tools.length > 0 ? entry.tools.map((tool) => `    ${toolLine(tool)}`) : ['    (no tools)']),
    ];
    for (const sub of entry.subagents) {
      lines.push(`  sub-agent ${sub.name} (${sub.role}, ${sub.model}):`);
      lines.push(...(sub.tools.length > 0 ? sub.tools.map((tool) => `    ${toolLine(tool)}`) : ['    (no tools)']));
    }
    return lines.join('\n');
  });
  return blocks.join('\n\n');
}
