import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoRunStore } from '../adapters/dynamodb/run-store.ts';
import { ensureTable } from '../adapters/dynamodb/table.ts';
import { startDynamoDbLocal } from '../cli/local/dynamodb-local.ts';
import { periodKey } from '../core/budgets/periods.ts';
import type { BudgetCharge } from '../core/budgets/reservation.ts';
import { TransientError } from '../core/errors.ts';

/**
 * Budget reservations racing on one budget key: N concurrent reserveBudget calls through
 * the real store on DynamoDB Local, the limit room for half of them. A call that fails
 * transiently (a transaction conflict) is retried with the same charge id, as the state
 * machine retries the step; the figure is answers (reserved or refused) per second, and
 * the check is that what was reserved never passes the limit.
 */
export async function budgetThroughput(concurrent = 200, fits = 100) {
  const dynamo = await startDynamoDbLocal({ inMemory: true });
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await ensureTable(client, 'bench-budgets');
    const store = new DynamoRunStore({ client, tableName: 'bench-budgets' });
    const at = new Date();
    const reserveMicros = 10_000;
    const limitMicros = fits * reserveMicros;
    const charge = (i: number): BudgetCharge => ({
      chargeId: `bench-charge-${i}`,
      runId: `bench-run-${i}`,
      at: at.toISOString(),
      lines: [
        {
          name: 'bench-team-daily',
          scope: 'team',
          key: 'bench',
          period: 'day',
          periodKey: periodKey('day', at),
          limitMicros,
          reserveMicros,
          reserveTokens: 0,
        },
      ],
    });
    let transientRetries = 0;
    const reserve = async (i: number) => {
      for (;;) {
        try {
          return await store.reserveBudget(charge(i));
        } catch (error) {
          if (!(error instanceof TransientError)) throw error;
          transientRetries += 1;
        }
      }
    };
    // Warm the JVM and the connection pool on another key, so the race measures the race.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.reserveBudget({ ...charge(10_000 + i), lines: [{ ...charge(0).lines[0]!, key: 'warm-up' }] }),
      ),
    );

    const started = performance.now();
    const outcomes = await Promise.all(Array.from({ length: concurrent }, (_, i) => reserve(i)));
    const seconds = (performance.now() - started) / 1000;
    const reserved = outcomes.filter((outcome) => outcome.ok).length;
    const usage = await store.getBudgetUsage('team', 'bench', periodKey('day', at));
    return {
      concurrent,
      limit_fits: fits,
      reserved,
      refused: concurrent - reserved,
      transient_retries: transientRetries,
      reservations_per_second: Math.round(concurrent / seconds),
      wall_ms: Math.round(seconds * 1000),
      used_micros: usage.usedMicros,
      limit_micros: limitMicros,
      within_limit: usage.usedMicros <= limitMicros && usage.usedMicros === reserved * reserveMicros,
    };
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}

/** Run alone: `node bench/budget-throughput.ts`. */
if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await budgetThroughput(), null, 2));
