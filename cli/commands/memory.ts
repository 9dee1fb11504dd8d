import { resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { DynamoMemoryStore } from '../../adapters/dynamodb/memory-store.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { resolveMemory, type MemoryPolicy } from '../../core/definitions/memory.ts';
import { clearLedger, ledgerNow, operatorMark } from '../../core/memory/operations.ts';
import type { MemoryStore } from '../../core/ports/memory-store.ts';
import { loadCatalog, openLocalState } from '../local/host.ts';
import { localPrincipal } from '../local/seed-skills.ts';

/**
 * `looprail memory <agent>`: an agent's work ledger by state, its handoff notes with the
 * runs that wrote them, and what operators did; `--reopen`, `--done` and `--clear` act on
 * it, each recorded with who and when (docs/loop-memory.md).
 */

type Log = (line: string) => void;

export interface MemoryCommandOptions {
  agent: string;
  reopen?: string;
  done?: string;
  clear?: boolean;
  json?: boolean;
  /** Who acts: recorded with the action. */
  principal: string;
  now: Date;
  log: Log;
}

/** The agent's memory settings, or why it has none. */
export function memoryPolicyOf(catalog: Catalog, agent: string): MemoryPolicy | string {
  const entry = catalog.agents[agent];
  if (!entry) return `unknown agent "${agent}" (known: ${Object.keys(catalog.agents).sort().join(', ') || 'none'})`;
  return resolveMemory(entry.spec.memory) ?? `agent "${agent}" declares no memory: add \`memory:\` to its definition`;
}

export async function memoryCommand(
  store: MemoryStore,
  policy: MemoryPolicy,
  options: MemoryCommandOptions,
): Promise<boolean> {
  const { agent, principal: by, now, log } = options;
  if ([options.reopen, options.done, options.clear].filter(Boolean).length > 1) {
    log('✗ one action at a time: --reopen, --done or --clear');
    return false;
  }
  const id = options.reopen ?? options.done;
  if (id !== undefined) {
    const action = options.reopen !== undefined ? 'reopen' : 'done';
    const result = await operatorMark(store, agent, id, { action, by }, policy, now);
    log(result.kind === 'refused' ? `✗ ${result.reason}` : `✓ ${result.message}`);
    return result.kind !== 'refused';
  }
  if (options.clear) {
    const removed = await clearLedger(store, agent, by, policy, now);
    log(`✓ cleared ${removed} item${removed === 1 ? '' : 's'} of ${agent}'s ledger (recorded as ${by})`);
    return true;
  }
  const items = await ledgerNow(store, agent, now);
  const notes = await store.listNotes(agent, 20);
  const actions = await store.listOperatorActions(agent, 20);
  if (options.json) {
    log(JSON.stringify({ agent, items, notes, operatorActions: actions }, null, 2));
    return true;
  }
  log(`${agent} — work ledger (${items.length} item${items.length === 1 ? '' : 's'})`);
  if (items.length === 0) log('  (empty)');
  for (const item of items) {
    const lease = item.state === 'claimed' ? ` until ${item.leaseUntil}` : '';
    const by = item.operator ? ` · ${item.operator.action} by ${item.operator.by} at ${item.operator.at}` : '';
    log(
      `  ${item.state.padEnd(12)} ${item.id.padEnd(28)} ${item.attempts}/${policy.maxAttempts} · run ${item.runId ?? '-'}${lease} · ${item.updatedAt}${item.outcome ? ` · ${item.outcome}` : ''}${by}`,
    );
  }
  log('');
  log(`handoff notes (newest first, ${notes.length})`);
  if (notes.length === 0) log('  (none yet)');
  for (const note of notes) {
    log(
      `  v${note.version} · run ${note.runId} · ${note.at}${note.source && note.source !== 'tool' ? ` · ${note.source}` : ''}`,
    );
    for (const line of note.text.split('\n')) log(`      ${line}`);
  }
  if (actions.length > 0) {
    log('');
    log('operator actions (newest first)');
    for (const action of actions) {
      log(
        `  ${action.at} · ${action.action}${action.itemId ? ` ${action.itemId}` : ''} by ${action.by} · ${action.detail}`,
      );
    }
  }
  return true;
}

export function registerMemoryCommand(program: Command, stateDirOption: Option): void {
  program
    .command('memory')
    .description("an agent's work ledger and handoff notes (loop memory); --reopen, --done and --clear are recorded")
    .argument('<agent>', 'the agent')
    .option('--org <dir>', 'the org folder with the definitions', 'agents')
    .option('--reopen <id>', 'put an item back to open, its attempts counted again from zero')
    .option('--done <id>', 'mark an item done')
    .option('--clear', "remove every item of the agent's ledger (a note says so to the next run)")
    .addOption(stateDirOption)
    .option('--json', 'machine-readable output')
    .action(
      async (
        agent: string,
        options: { org: string; stateDir: string; reopen?: string; done?: string; clear?: boolean; json?: boolean },
      ) => {
        const log: Log = (line) => console.log(line);
        const policy = memoryPolicyOf(await loadCatalog(options.org), agent);
        if (typeof policy === 'string') {
          log(`✗ ${policy}`);
          process.exitCode = 1;
          return;
        }
        const state = await openLocalState({ stateDir: resolve(options.stateDir) });
        try {
          const store = new DynamoMemoryStore({ client: state.client, tableName: state.tableName });
          const ok = await memoryCommand(store, policy, {
            ...options,
            agent,
            principal: localPrincipal(),
            now: new Date(),
            log,
          });
          process.exitCode = ok ? 0 : 1;
        } finally {
          await state.close();
        }
      },
    );
}
