import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoRunStore } from '../adapters/dynamodb/run-store.ts';
import { ensureTable } from '../adapters/dynamodb/table.ts';
import { startDynamoDbLocal } from '../cli/local/dynamodb-local.ts';
import { loadCatalog } from '../cli/local/host.ts';
import { systemClock } from '../core/ports/clock.ts';
import { Router } from '../functions/http/router.ts';
import { registerConsole } from '../functions/http/console/index.ts';
import { seedRun } from '../test/support/seeded-runs.ts';

/**
 * `node bench/console.ts`: how long the console's pages take to answer (server side, the
 * app over DynamoDB Local in memory) for runs of growing length. The run page reads one
 * page of steps and messages, so it should not grow with the run; the runs list reads the
 * declared agents' index partitions, not the table. Prints JSON (medians of 9, in ms).
 */

const SIZES = [100, 2_500, 10_000];
const REPEATS = 9;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(1));
}

async function main() {
  const dynamo = await startDynamoDbLocal({ inMemory: true });
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const tableName = `bench-console-${randomUUID()}`;
    await ensureTable(client, tableName);
    const store = new DynamoRunStore({ client, tableName });
    const catalog = await loadCatalog('test/fixtures/console-org');
    const router = new Router();
    registerConsole(router, { store, catalog: async () => catalog, clock: systemClock });
    const time = async (path: string) => {
      const [pathname, search] = path.split('?');
      const times: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        const started = performance.now();
        const response = await router.handle({
          method: 'GET',
          path: pathname!,
          query: Object.fromEntries(new URLSearchParams(search ?? '')),
          headers: {},
          rawBody: Buffer.alloc(0),
          principal: 'bench',
        });
        if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
        times.push(performance.now() - started);
      }
      return median(times);
    };
    const rows = [];
    for (const steps of SIZES) {
      const runId = `bench-${steps}`;
      const seeding = performance.now();
      await seedRun(store, { runId, agent: 'console-maker', steps, toolText: '<b>markup</b>' });
      rows.push({
        steps,
        seedMs: Math.round(performance.now() - seeding),
        runPageFirstMs: await time(`/console/runs/${runId}`),
        runPageLastMs: await time(`/console/runs/${runId}?after=${Math.max(0, steps - 150)}`),
        runsListMs: await time('/console/runs'),
      });
    }
    console.log(JSON.stringify({ measured: new Date().toISOString(), repeats: REPEATS, rows }, null, 2));
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}

await main();
