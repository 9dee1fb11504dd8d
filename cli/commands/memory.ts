import { resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { DynamoMemoryStore } from '../../adapters/dynamodb/memory-store.ts';
import type { MemoryPolicy } from '../../core/definitions/memory.ts';
import { LEDGER_STATES, type LedgerState } from '../../core/memory/ledger.ts';
import {
  actOnMemory,
  agentMemory,
  readMemory,
  type MemoryAction,
  type MemoryActionResult,
  type MemoryView,
  type MemoryViewQuery,
} from '../../core/memory/operator.ts';
import type { MemoryStore } from '../../core/ports/memory-store.ts';
import { LooprailApiError, resolveEndpoint, type LooprailClient } from '../client.ts';
import { loadCatalog, openLocalState } from '../local/host.ts';
import { localPrincipal } from '../local/seed-skills.ts';
import { memoryReport } from '../output/memory-report.ts';

/**
 * `looprail memory <agent>`: an agent's work ledger by state, its handoff notes with the
 * runs that wrote them, and what operators did; `--reopen`, `--done` and `--clear` act on
 * it, each recorded with who and when (docs/loop-memory.md). On the local state by
 * default; with `--url` (or LOOPRAIL_URL) through a deployed stack's API, the same output.
 */

type Log = (line: string) => void;

/** Where the memory is read and acted on: the local store, or the API (which records its caller). */
export interface MemoryDoor {
  read(query: MemoryViewQuery): Promise<MemoryView>;
  act(action: MemoryAction): Promise<MemoryActionResult>;
}

export function localMemory(
  store: MemoryStore,
  agent: string,
  policy: MemoryPolicy,
  who: { principal: string; now: () => Date },
): MemoryDoor {
  return {
    read: (query) => readMemory(store, agent, policy, query, who.now()),
    act: (action) => actOnMemory(store, agent, policy, { ...action, by: who.principal }, who.now()),
  };
}

/** The API's problems (unknown agent or item, no `memory:`) are thrown as LooprailApiError. */
export function apiMemory(client: LooprailClient, agent: string): MemoryDoor {
  return {
    // The API caps a page of items; the CLI asks for as many as it allows.
    read: (query) => client.getMemory(agent, { ...query, limit: query.limit ?? 1000 }),
    act: async (action) => ({ ok: true, ...(await client.actOnMemory(agent, action)) }),
  };
}

export interface MemoryCommandOptions {
  reopen?: string;
  done?: string;
  clear?: boolean;
  state?: string;
  json?: boolean;
  log: Log;
}

function chosenAction(options: MemoryCommandOptions): MemoryAction | undefined | string {
  if ([options.reopen, options.done, options.clear].filter(Boolean).length > 1)
    return 'one action at a time: --reopen, --done or --clear';
  if (options.reopen !== undefined) return { action: 'reopen', id: options.reopen };
  if (options.done !== undefined) return { action: 'done', id: options.done };
  return options.clear ? { action: 'clear' } : undefined;
}

export async function memoryCommand(door: MemoryDoor, options: MemoryCommandOptions): Promise<boolean> {
  const { log } = options;
  const action = chosenAction(options);
  if (typeof action === 'string') {
    log(`✗ ${action}`);
    return false;
  }
  if (action) {
    const result = await door.act(action);
    log(result.ok ? `✓ ${result.message}` : `✗ ${result.message}`);
    return result.ok;
  }
  if (options.state !== undefined && !LEDGER_STATES.includes(options.state as LedgerState)) {
    log(`✗ --state ${options.state}: expected one of ${LEDGER_STATES.join(', ')}`);
    return false;
  }
  const view = await door.read({ state: options.state as LedgerState | undefined, notes: 20, actions: 20 });
  if (options.json) log(JSON.stringify(view, null, 2));
  else for (const line of memoryReport(view)) log(line);
  return true;
}

interface MemoryCliOptions extends Omit<MemoryCommandOptions, 'log'> {
  org: string;
  stateDir: string;
  url?: string;
  token?: string;
}

async function throughApi(agent: string, options: MemoryCliOptions & { url: string }, log: Log): Promise<boolean> {
  const endpoint = await resolveEndpoint(options);
  // SigV4 (for a deployed stack) loads the AWS credential chain: only when the API is called.
  const { clientFor } = await import('../sigv4.ts');
  try {
    return await memoryCommand(apiMemory(clientFor(endpoint), agent), { ...options, log });
  } catch (error) {
    if (!(error instanceof LooprailApiError)) throw error;
    log(`✗ ${error.message} (${error.status} ${error.code})`);
    return false;
  }
}

async function onLocalState(agent: string, options: MemoryCliOptions, log: Log): Promise<boolean> {
  const found = agentMemory(await loadCatalog(options.org), agent);
  if (found.kind !== 'memory') {
    log(`✗ ${found.message}`);
    return false;
  }
  const state = await openLocalState({ stateDir: resolve(options.stateDir) });
  try {
    const store = new DynamoMemoryStore({ client: state.client, tableName: state.tableName });
    const door = localMemory(store, agent, found.policy, { principal: localPrincipal(), now: () => new Date() });
    return await memoryCommand(door, { ...options, log });
  } finally {
    await state.close();
  }
}

export function registerMemoryCommand(program: Command, stateDirOption: Option): void {
  program
    .command('memory')
    .description("an agent's work ledger and handoff notes (loop memory); --reopen, --done and --clear are recorded")
    .argument('<agent>', 'the agent')
    .option('--org <dir>', 'the org folder with the definitions (local state only)', 'agents')
    .option('--reopen <id>', 'put an item back to open, its attempts counted again from zero')
    .option('--done <id>', 'mark an item done')
    .option('--clear', "remove every item of the agent's ledger (a note says so to the next run)")
    .option('--state <state>', `only the items in this state (${LEDGER_STATES.join(', ')})`)
    .addOption(stateDirOption)
    .option('--url <url>', "a looprail API (a deployed stack's ApiUrl, or a dev server); default: the local state")
    .option('--token <token>', 'the API token (a dev server); a deployed stack is called with SigV4')
    .option('--json', 'machine-readable output')
    .action(async (agent: string, options: MemoryCliOptions) => {
      const log: Log = (line) => console.log(line);
      const url = options.url ?? process.env.LOOPRAIL_URL;
      const ok = url ? await throughApi(agent, { ...options, url }, log) : await onLocalState(agent, options, log);
      process.exitCode = ok ? 0 : 1;
    });
}
