/**
 * Published list prices the cost figures use: US East (N. Virginia), USD, on-demand, after
 * free tiers. The one place these numbers live; each carries the page it comes from and
 * the date it was checked. Several AWS pages render their rate tables client-side, so
 * `checked` says where the figure was actually seen. Prices change: re-read the pages
 * and update the dates when they do.
 */

export interface PublishedPrice {
  usd: number;
  per: string;
  source: string;
  /** When, and where the figure was seen when the page itself does not show it as text. */
  checked: string;
}

export const AWS_PRICES = {
  stepFunctionsStandardTransitions: {
    usd: 0.025,
    per: '1,000 state transitions (Standard Workflows, retries count as transitions)',
    source:
      'https://aws.amazon.com/step-functions/pricing/ — "State transitions pricing table": US East (N. Virginia) $0.0250 per 1,000',
    checked: '2026-11-24, in the page text',
  },
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    per: 'GB-second of duration, Arm (Graviton), first 7.5 billion GB-seconds a month',
    source:
      'https://aws.amazon.com/lambda/pricing/ — "Arm Price", Duration: $0.0000133334 for every GB-second (US East)',
    checked:
      "2026-11-24; the page renders the rate client-side: seen in artillery's lib/platform/aws-lambda/prices.js (arm64 base 1333340e-11) and a Lambda cost guide quoting the page",
  },
  lambdaRequests: {
    usd: 0.2,
    per: '1 million requests (x86 and Arm alike)',
    source: 'https://aws.amazon.com/lambda/pricing/ — Requests: $0.20 per 1M requests',
    checked: '2026-11-24, in the page text (Managed Instances request charge, the same rate) and its pricing examples',
  },
  dynamodbOnDemandWriteRequestUnits: {
    usd: 0.625,
    per: '1 million write request units (Standard table class; after the November 2024 on-demand price cut)',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ — Write Request Units: $0.625 per million (US East)',
    checked:
      '2026-11-24; the page renders the rate client-side: seen in guides quoting it after the November 2024 cut (e.g. airbyte.com/data-engineering-resources/dynamodb-pricing)',
  },
  dynamodbOnDemandReadRequestUnits: {
    usd: 0.125,
    per: '1 million read request units (Standard table class)',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ — Read Request Units: $0.125 per million (US East)',
    checked: '2026-11-24; as for write request units',
  },
  secretsManagerApiCalls: {
    usd: 0.05,
    per: '10,000 API calls',
    source:
      'https://aws.amazon.com/secrets-manager/pricing/ — $0.05 per 10,000 API calls (plus $0.40 per secret per month, not per iteration)',
    checked: '2026-11-24; seen in guides quoting the page (e.g. hivebook.wiki on AWS Secrets Manager)',
  },
  cloudWatchLogsIngestion: {
    usd: 0.5,
    per: 'GB ingested (Standard log class)',
    source: 'https://aws.amazon.com/cloudwatch/pricing/ — Logs, Collect (Data Ingestion): Standard $0.50 per GB',
    checked: '2026-11-24; not re-read: the long-standing US East list price (the pricing page renders it client-side)',
  },
} as const satisfies Record<string, PublishedPrice>;

/**
 * The Sonnet-class call the infra cost is compared with. Its per-token prices are the ones
 * agents/models.yaml declares for claude-sonnet-4-6 (read there, not copied here); this is
 * where they were published.
 */
export const SONNET_CLASS_CALL = {
  model: 'claude-sonnet-4-6',
  inputTokens: 20_000,
  outputTokens: 1_000,
  source:
    'agents/models.yaml (claude-sonnet-4-6: input $3, output $15 per million tokens), as published at https://www.anthropic.com/pricing#api',
} as const;
