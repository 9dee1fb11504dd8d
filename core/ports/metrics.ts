/** Numbers for dashboards and alarms (CloudWatch Embedded Metric Format on AWS). */
export interface MetricsSink {
  /** One call's spend, by agent, team and model. */
  spend(
    dimensions: { agent: string; team?: string; model: string; role: 'maker' | 'checker' },
    values: { costMicros: number; inputTokens: number; outputTokens: number },
  ): void;
}
