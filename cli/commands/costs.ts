import { resolve } from 'node:path';
import { formatUsd } from '../../core/format/usd.ts';
import type { RollupDimension } from '../../core/ports/store/budgets.ts';
import { totalsByKey } from '../../core/budgets/totals.ts';
import { openLocalState } from '../local/state.ts';

const DIMENSIONS: RollupDimension[] = ['agent', 'team', 'model', 'user'];

export function parseSince(text: string, now: Date): string {
  const match = /^(\d+)d$/.exec(text);
  if (!match) throw new Error(`--since expects a number of days such as 7d, got "${text}"`);
  return new Date(now.getTime() - (Number(match[1]) - 1) * 86_400_000).toISOString().slice(0, 10);
}

/** `looprail costs --by agent --since 7d`: spend from the daily rollups the steps keep. */
export async function showCosts(options: {
  by: string;
  since: string;
  stateDir: string;
  json?: boolean;
  log: (line: string) => void;
  onStarting?: () => (() => void) | undefined;
}): Promise<void> {
  if (!DIMENSIONS.includes(options.by as RollupDimension))
    throw new Error(`--by expects one of ${DIMENSIONS.join(', ')}, got "${options.by}"`);
  const now = new Date();
  const from = parseSince(options.since, now);
  const to = now.toISOString().slice(0, 10);
  const state = await openLocalState({ stateDir: resolve(options.stateDir), onStarting: options.onStarting });
  try {
    const lines = totalsByKey(await state.store.listRollups(options.by as RollupDimension, from, to));
    if (options.json) return options.log(JSON.stringify({ by: options.by, from, to, lines }, null, 2));
    options.log(
      `${options.by.padEnd(28)} ${'cost'.padStart(10)} ${'checker'.padStart(10)} ${'calls'.padStart(7)} ${'tokens in'.padStart(11)} ${'tokens out'.padStart(11)}   ${from} … ${to}`,
    );
    for (const line of lines) {
      options.log(
        `${line.key.padEnd(28)} ${formatUsd(line.costMicros).padStart(10)} ${formatUsd(line.checkerCostMicros).padStart(10)} ${String(line.calls).padStart(7)} ${line.inputTokens.toLocaleString('en-US').padStart(11)} ${line.outputTokens.toLocaleString('en-US').padStart(11)}`,
      );
    }
    if (lines.length === 0) options.log('no spend recorded in this period');
  } finally {
    await state.close();
  }
}
