import { resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { resolveEndpoint, type LooprailClient } from '../client.ts';
import { openLocalState } from '../local/state.ts';
import { readRunReport } from '../output/run-report.ts';
import { runsTable, type ListedRun } from '../output/runs-table.ts';
import { renderTrace } from '../output/trace-tree.ts';
import { showCosts } from './costs.ts';
import { startingLine } from '../output/progress.ts';

/**
 * The read commands (`runs`, `trace`, `costs`): through the API when a dev server (or
 * --url) is there, else from the local state. bin/looprail.js loads only this module for
 * them (not the whole CLI), and the local database is shared (cli/local/shared-db.ts), so
 * they answer in well under two seconds once it runs.
 */

export function registerReadCommands(program: Command, stateDirOption: Option): void {
  registerTrace(program, stateDirOption);
  registerRuns(program, stateDirOption);
  registerCosts(program, stateDirOption);
}

function registerTrace(program: Command, stateDirOption: Option): void {
  program
    .command('trace')
    .description("show a run's trace: every step with latency, tokens and cost, checker runs nested")
    .argument('<runId>')
    .addOption(stateDirOption)
    .option(
      '--url <url>',
      'a looprail API (a dev server or a deployed stack); default: the running dev server, else the local state',
    )
    .option('--token <token>', 'the API token (a dev server); a deployed stack is called with SigV4')
    .option('--json', 'the raw trace events')
    .action(async (runId: string, options: { stateDir: string; url?: string; token?: string; json?: boolean }) => {
      const endpoint = await resolveEndpoint(options).catch(() => undefined);
      if (endpoint) {
        // Through the API, local or deployed: the same client and code path as every command.
        const client = await apiClient(endpoint);
        const [run, trace] = await Promise.all([client.getRun(runId), client.getTrace(runId)]);
        const children = Object.fromEntries(trace.checkers.map((checker) => [checker.runId, checker.events]));
        console.log(
          options.json
            ? JSON.stringify({ run, answer: run.answer, trace: trace.events, children }, null, 2)
            : renderTrace(run, trace.events, children, run.answer),
        );
        return;
      }
      const state = await openLocalState({ stateDir: resolve(options.stateDir), onStarting: startingLine(options) });
      try {
        const meta = await state.store.getRun(runId);
        if (!meta) {
          console.error(`looprail: no run ${runId} in ${options.stateDir}`);
          process.exitCode = 1;
          return;
        }
        const { trace, children, answer } = await readRunReport(state.store, runId);
        if (options.json) console.log(JSON.stringify({ run: meta, answer, trace, children }, null, 2));
        else console.log(renderTrace(meta, trace, children, answer));
      } finally {
        await state.close();
      }
    });
}

function registerRuns(program: Command, stateDirOption: Option): void {
  program
    .command('runs')
    .description('list recent runs: through the API when a dev server (or --url) is there, else from the local state')
    .option('--agent <name>', 'only this agent')
    .option('--limit <n>', 'how many', '20')
    .addOption(stateDirOption)
    .option('--url <url>', 'a looprail API (a dev server or a deployed stack)')
    .option('--token <token>', 'the API token (a dev server); a deployed stack is called with SigV4')
    .option('--json', 'machine-readable output')
    .action(
      async (options: {
        agent?: string;
        limit: string;
        stateDir: string;
        url?: string;
        token?: string;
        json?: boolean;
      }) => {
        const endpoint = await resolveEndpoint(options).catch(() => undefined);
        let runs: ListedRun[];
        if (endpoint) {
          const client = await apiClient(endpoint);
          runs = (await client.listRuns({ agent: options.agent, limit: Number(options.limit) })).runs;
        } else {
          const state = await openLocalState({
            stateDir: resolve(options.stateDir),
            onStarting: startingLine(options),
          });
          try {
            runs = await state.store.listRuns({ agent: options.agent, limit: Number(options.limit), role: 'maker' });
          } finally {
            await state.close();
          }
        }
        if (options.json) return void console.log(JSON.stringify(runs, null, 2));
        if (runs.length === 0) return void console.log('no runs yet: try `npm run demo`');
        for (const line of runsTable(runs)) console.log(line);
      },
    );
}

function registerCosts(program: Command, stateDirOption: Option): void {
  program
    .command('costs')
    .description('spend per agent, team, model or user over the last days, from the daily rollups')
    .option('--by <dimension>', 'agent, team, model or user', 'agent')
    .option('--since <days>', 'how far back, e.g. 7d', '7d')
    .addOption(stateDirOption)
    .option('--json', 'machine-readable output')
    .action(async (options: { by: string; since: string; stateDir: string; json?: boolean }) => {
      await showCosts({ ...options, log: (line) => console.log(line), onStarting: startingLine(options) });
    });
}

/** SigV4 (for a deployed stack) loads the AWS credential chain: only when an API is called. */
async function apiClient(endpoint: { url: string; token?: string }): Promise<LooprailClient> {
  const { clientFor } = await import('../sigv4.ts');
  return clientFor(endpoint);
}
