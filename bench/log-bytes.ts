import { emfMetrics } from '../adapters/metrics/emf.ts';
import type { RunDeps } from '../core/run/deps.ts';
import { jsonLogger } from '../adapters/logging/json-logger.ts';

/**
 * The bytes a run writes to CloudWatch Logs from our own code, as lambdaDeps() sets it up
 * on AWS: JSON log lines at the default level (info) and one EMF line per model call. Lambda's
 * own platform records (start, report) are not ours to measure here and are not counted.
 */
export function logBytes() {
  let bytes = 0;
  let lines = 0;
  const write = (line: string) => {
    bytes += Buffer.byteLength(line) + 1;
    lines += 1;
  };
  return {
    log: jsonLogger('info', write),
    wrapDeps: (deps: RunDeps): RunDeps => ({ ...deps, metrics: emfMetrics(write) }),
    reset() {
      bytes = 0;
      lines = 0;
    },
    totals: () => ({ bytes, lines }),
  };
}
