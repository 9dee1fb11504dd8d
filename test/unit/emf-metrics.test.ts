import { describe, expect, it } from 'vitest';
import { emfMetrics } from '../../adapters/metrics/emf.ts';

describe('spend metrics in Embedded Metric Format', () => {
  it('write one JSON line CloudWatch turns into metrics per agent, team, model and overall', () => {
    const lines: string[] = [];
    emfMetrics(
      (line) => lines.push(line),
      () => 1_764_000_000_000,
    ).spend(
      { agent: 'triage', team: 'platform', model: 'claude', role: 'maker' },
      { costMicros: 75_000, inputTokens: 20_000, outputTokens: 1_000 },
    );
    const record = JSON.parse(lines[0]!);
    expect(record._aws).toEqual({
      Timestamp: 1_764_000_000_000,
      CloudWatchMetrics: [
        {
          Namespace: 'Looprail',
          Dimensions: [['Agent'], ['Team'], ['Model'], []],
          Metrics: [
            { Name: 'CostMicros', Unit: 'None' },
            { Name: 'InputTokens', Unit: 'Count' },
            { Name: 'OutputTokens', Unit: 'Count' },
          ],
        },
      ],
    });
    expect(record).toMatchObject({
      Agent: 'triage',
      Team: 'platform',
      Model: 'claude',
      CostMicros: 75_000,
      InputTokens: 20_000,
      OutputTokens: 1_000,
    });
  });
});
