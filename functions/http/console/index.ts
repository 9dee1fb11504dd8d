import type { Catalog } from '../../../core/definitions/catalog.ts';
import { buildInventory } from '../../../core/policy/inventory.ts';
import type { Clock } from '../../../core/ports/clock.ts';
import type { RunStore } from '../../../core/ports/run-store.ts';
import type { Router } from '../router.ts';
import { approvalsPage } from './approvals-page.ts';
import { costsPage } from './costs-page.ts';
import { consoleRoute } from './html.ts';
import { inventoryPage } from './inventory-page.ts';
import { memoryPage } from './memory-page.ts';
import type { MemoryStore } from '../../../core/ports/memory-store.ts';
import { runPage } from './run-page.ts';
import { runsPage } from './runs-page.ts';

/**
 * The web console under /console: server-rendered, read-only pages over the same store
 * and catalog as the API, behind the same authentication (the host's: IAM on AWS, the
 * dev server's token locally). Deciding approvals is the approval pages' job.
 */

export interface ConsoleDeps {
  store: RunStore;
  catalog: () => Promise<Catalog>;
  clock: Clock;
  /** Loop memory, for agents that declare it (absent: their memory pages say so). */
  memory?: MemoryStore;
}

export function registerConsole(router: Router, deps: ConsoleDeps): void {
  const agents = async () => Object.keys((await deps.catalog()).agents).sort();
  const runs = consoleRoute('/console/runs', (request) => runsPage({ store: deps.store, agents }, request));
  router.get('/console', runs);
  router.get('/console/runs', runs);
  router.get(
    '/console/runs/:runId',
    consoleRoute('/console/runs', (request, params) => runPage(deps.store, request, params.runId!)),
  );
  router.get(
    '/console/approvals',
    consoleRoute('/console/approvals', () => approvalsPage(deps.store)),
  );
  router.get(
    '/console/inventory',
    consoleRoute('/console/inventory', async () => inventoryPage(buildInventory(await deps.catalog()))),
  );
  router.get(
    '/console/agents/:agent/memory',
    consoleRoute('/console/inventory', (_request, params) =>
      memoryPage({ memory: deps.memory, catalog: deps.catalog, now: () => deps.clock.now() }, params.agent!),
    ),
  );
  router.get(
    '/console/costs',
    consoleRoute('/console/costs', (request) => costsPage({ store: deps.store, now: () => deps.clock.now() }, request)),
  );
}
