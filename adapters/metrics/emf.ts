import type { MetricsSink } from '../../core/ports/metrics.ts';

export const METRICS_NAMESPACE = 'Looprail';

/**
 * CloudWatch Embedded Metric Format: one JSON line on stdout that Lambda's log pipeline
 * turns into metrics, with no API call on the hot path. Dimension sets: per agent, per
 * team, per model, and the whole account.
 */
export function emfMetrics(
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  now: () => number = Date.now,
): MetricsSink {
  return {
    spend(dimensions, values) {
      write(
        JSON.stringify({
          _aws: {
            Timestamp: now(),
            CloudWatchMetrics: [
              {
                Namespace: METRICS_NAMESPACE,
                Dimensions: [['Agent'], ['Team'], ['Model'], []],
                Metrics: [
                  { Name: 'CostMicros', Unit: 'None' },
                  { Name: 'InputTokens', Unit: 'Count' },
                  { Name: 'OutputTokens', Unit: 'Count' },
                ],
              },
            ],
          },
          Agent: dimensions.agent,
          Team: dimensions.team ?? 'none',
          Model: dimensions.model,
          Role: dimensions.role,
          CostMicros: values.costMicros,
          InputTokens: values.inputTokens,
          OutputTokens: values.outputTokens,
        }),
      );
    },
  };
}
