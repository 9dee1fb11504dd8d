import { runUsage, type RunMeta } from '../../core/definitions/run.ts';
import { formatUsd } from '../../core/format/usd.ts';

export type ListedRun = Pick<
  RunMeta,
  'createdAt' | 'runId' | 'agent' | 'stopReason' | 'status' | 'usage' | 'checkerUsage'
>;

/** `looprail runs`: one row per run under a header, columns as wide as their widest value. */
export function runsTable(runs: ListedRun[]): string[] {
  const rows = runs.map((run) => {
    const usage = runUsage(run);
    return [
      run.createdAt,
      run.runId,
      run.agent,
      run.stopReason ?? run.status,
      (usage.inputTokens + usage.outputTokens).toLocaleString('en-US'),
      formatUsd(usage.costMicros),
    ];
  });
  const header = ['CREATED', 'RUN', 'AGENT', 'OUTCOME', 'TOKENS', 'COST'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  // Numbers line up on the right.
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column >= 4 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
