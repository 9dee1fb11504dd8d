import type { AccessChange, AccessDiff, Direction } from '../../core/review/access-diff.ts';

/** `looprail diff` as a reader sees it: by agent, one line per change, what widens marked first. */

const MARK: Record<Direction, string> = { widens: '▲ widens ', narrows: '▼ narrows', changes: '~ changes' };
const SIGN: Record<AccessChange['change'], string> = { added: '+', removed: '-', changed: '~' };

function byAgent(diff: AccessDiff): Map<string, AccessChange[]> {
  const agents = new Map<string, AccessChange[]>();
  for (const change of diff.changes) agents.set(change.agent, [...(agents.get(change.agent) ?? []), change]);
  return agents;
}

function detail(change: AccessChange): string {
  if (change.change === 'changed') return `${change.before} → ${change.after}`;
  return (change.change === 'added' ? change.after : change.before) ?? '';
}

export function diffText(diff: AccessDiff, base: string): string {
  if (diff.changes.length === 0) return `no agent's access changed since ${base}`;
  const lines: string[] = [];
  for (const [agent, changes] of byAgent(diff)) {
    lines.push(agent);
    const width = Math.max(...changes.map((change) => change.facet.length));
    for (const change of changes)
      lines.push(
        `  ${MARK[change.direction]}  ${SIGN[change.change]} ${change.facet.padEnd(width)}  ${detail(change)}`,
      );
  }
  const widened = diff.changes.filter((change) => change.direction === 'widens').length;
  lines.push(
    widened > 0
      ? `access widened: ${widened} change${widened === 1 ? '' : 's'} since ${base} (exit status 2)`
      : `access did not widen since ${base}`,
  );
  return lines.join('\n');
}

const cell = (text: string | undefined) => (text ?? '').replaceAll('|', '\\|').replaceAll('\n', ' ');

export function diffMarkdown(diff: AccessDiff, base: string): string {
  if (diff.changes.length === 0) return `**looprail diff** against \`${base}\`: no agent's access changed.`;
  const widened = diff.changes.filter((change) => change.direction === 'widens').length;
  const lines = [
    `**looprail diff** against \`${base}\`: ${widened > 0 ? `⚠️ access widened (${widened} change${widened === 1 ? '' : 's'})` : 'access did not widen'}.`,
  ];
  for (const [agent, changes] of byAgent(diff)) {
    lines.push('', `### ${agent}`, '', '| | change | what | before | after |', '|---|---|---|---|---|');
    for (const change of changes)
      lines.push(
        `| ${MARK[change.direction].trim()} | ${change.change} | \`${cell(change.facet)}\` | ${cell(change.before)} | ${cell(change.after)} |`,
      );
  }
  return lines.join('\n');
}
