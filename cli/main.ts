#!/usr/bin/env node
import { INTERRUPTED_EXIT } from './process.ts';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { formatProblem, loadOrgFolder } from '../adapters/catalog/fs-loader.ts';
import { hasErrors } from '../core/definitions/problems.ts';
import { runUsage } from '../core/definitions/run.ts';
import { agentSummary } from './output/agent-summary.ts';
import { summaryLine, traceLine } from './output/trace-lines.ts';
import { loadCatalog, startLocalHost } from './local/host.ts';
import { buildInventory } from '../core/policy/inventory.ts';
import { inventoryText } from './output/inventory-table.ts';
import { pinServers } from './commands/pin.ts';
import { registerReadCommands } from './commands/reads.ts';
import { registerLocalDbCommand } from './commands/local-db.ts';
import { startingLine } from './output/progress.ts';
import { lockOrg } from './commands/lock.ts';
import { openLocalSkills, registerSkillsCommand } from './commands/skills.ts';
import { registerMemoryCommand } from './commands/memory.ts';
import { mcpGatewayCommand } from './commands/mcp-gateway.ts';
import { exitStatus, outcomeLines } from './output/run-outcome.ts';
import { plainDetail } from '../core/format/error-names.ts';
import { readRunReport } from './output/run-report.ts';
import { devCommand } from './commands/dev.ts';
import { consoleCommand } from './commands/console.ts';
import { registerApprovalsCommands } from './commands/approvals.ts';
import { registerSecretsCommand } from './commands/secrets.ts';
import { registerDoctorCommand } from './commands/doctor.ts';
import { registerDiffCommand } from './commands/diff.ts';
import { registerReplayCommand } from './commands/replay.ts';
import { registerEvalCommand } from './commands/eval.ts';
import { registerScaffoldCommands } from './commands/scaffold.ts';
import { registerSchemaCommand } from './commands/schema.ts';
import { ReviewInputError } from './commands/review-errors.ts';
import { resolveEndpoint } from './client.ts';
import { clientFor } from './sigv4.ts';

/**
 * The `looprail` command. Exit codes: 0 all well (a run ended verified or completed);
 * 1 an error or invalid definitions; 2 a run that stopped for another reason (a limit,
 * a rejection, a stall…); 3 a run that completed, but with tool calls refused or failed
 * on the way (cli/output/run-outcome.ts), so scripts can tell the difference. `diff` exits
 * 2 when access widened (cli/commands/diff.ts), `replay` when a decision differs, `eval` when a case fails;
 * `replay`, `export` and `eval` exit 3–7 for input they cannot use (cli/commands/review-errors.ts).
 */

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command()
  .name('looprail')
  .description('A governed runtime for unattended AI agent loops')
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

const stateDirOption = new Option('--state-dir <dir>', 'where local runs keep their state').default('.looprail');

program
  .command('validate')
  .description('check agent definitions and the org files beside them; every problem at once')
  .argument('[paths...]', 'org folders or definition files', ['agents'])
  .option('--json', 'machine-readable output')
  .action(async (paths: string[], options: { json?: boolean }) => {
    let failed = false;
    const reports = [];
    for (const path of paths) {
      const { catalog, problems } = await loadOrgFolder(path);
      failed ||= hasErrors(problems);
      reports.push({
        path,
        ok: !hasErrors(problems),
        problems,
        agents: catalog ? Object.values(catalog.agents).map((entry) => agentSummary(catalog, entry)) : [],
      });
      if (options.json) continue;
      for (const problem of problems) console.log(formatProblem(problem));
      if (catalog) {
        for (const agent of Object.values(catalog.agents)) console.log(`✓ ${agentSummary(catalog, agent).line}`);
        if (Object.keys(catalog.agents).length === 0) {
          // Nothing to check is a mistake too (the wrong folder, most often): never a silent pass.
          failed = true;
          console.log(
            `✗ ${path}: no agent definitions found (an agent is a YAML file with a top-level \`agent:\` key); point validate at the org folder, e.g. \`looprail validate agents\``,
          );
        }
      } else {
        const errors = problems.filter((p) => p.severity === 'error').length;
        console.log(`✗ ${path}: ${errors} problem${errors === 1 ? '' : 's'}; nothing was deployed or run`);
      }
    }
    if (options.json) console.log(JSON.stringify(paths.length === 1 ? reports[0] : reports, null, 2));
    process.exitCode = failed ? 1 : 0;
  });

program
  .command('run')
  .description('run one agent locally, on the same state machine and handlers as on AWS, and stream its trace')
  .argument('<agent>', 'the agent name')
  .option('--input <json>', 'the run input as JSON', '{}')
  .option('--input-file <file>', 'read the run input from a JSON file')
  .option('--dedupe-key <key>', 'the same key never starts a second run')
  .option('--org <dir>', 'the org folder with the definitions', 'agents')
  .addOption(stateDirOption)
  .option('--json', 'print the run and its trace as JSON at the end, instead of streaming lines')
  .action(
    async (
      agent: string,
      options: { input: string; inputFile?: string; dedupeKey?: string; org: string; stateDir: string; json?: boolean },
    ) => {
      const input = parseInput(
        options.inputFile ? await readFile(options.inputFile, 'utf8') : options.input,
        options.inputFile ?? '--input',
      );
      const started = Date.now();
      const scriptWarnings: string[] = [];
      const host = await startLocalHost({
        orgDir: options.org,
        stateDir: options.stateDir,
        onStarting: startingLine(options),
        // What validate said of scripted calls: shown with the calls the run refused, where it is the fix.
        onWarning: (warning) => {
          if (warning.path.startsWith('turns[')) scriptWarnings.push(formatProblem(warning));
        },
        onCommit: options.json
          ? undefined
          : (_runId, commit) => {
              for (const event of commit.trace ?? []) {
                if (event.kind === 'run_started' && commit.meta.role === 'maker') {
                  console.log(
                    `▶ ${commit.meta.agent} · run ${commit.meta.runId} · ${commit.meta.trigger.kind} · principal ${commit.meta.principal}`,
                  );
                }
                console.log(traceLine(event, commit.meta.role === 'checker' ? '  │ ' : '  '));
              }
            },
      });
      const controller = new AbortController();
      process.once('SIGINT', () => {
        console.error(
          '\ninterrupted: every step committed so far is recorded (looprail trace <runId>); a run started with --dedupe-key resumes when started again with the same key',
        );
        controller.abort();
      });
      try {
        const result = await host.run(
          { agent, input, principal: `local:${userInfo().username}`, dedupeKey: options.dedupeKey },
          controller.signal,
        );
        const meta = result.meta;
        const { trace, answer, problems } = await readRunReport(host.deps.store, result.runId);
        if (options.json) {
          console.log(
            JSON.stringify(
              {
                runId: result.runId,
                created: result.created,
                status: meta.status,
                stopReason: meta.stopReason,
                stopDetail: meta.stopDetail,
                usage: runUsage(meta),
                answer,
                refusedCalls: problems.refused,
                failedCalls: problems.failed,
                run: meta,
                trace,
                execution: result.outcome,
              },
              null,
              2,
            ),
          );
        } else {
          if (!result.created) console.log(`run ${result.runId} already exists for this dedupe key`);
          console.log(summaryLine(meta, Date.now() - started));
          const failure = result.outcome?.status === 'FAILED' ? result.outcome.error : undefined;
          const why = failure ? plainDetail(`${failure.name}: ${failure.message}`) : undefined;
          // Said once: the execution's error is most often the stop detail already shown.
          if (why && !plainDetail(meta.stopDetail ?? '').includes(why.replace(/^the execution failed: /, '')))
            console.log(`  ${why}`);
          for (const line of outcomeLines(problems, answer)) console.log(line);
          if (problems.refused.length + problems.failed.length > 0 && scriptWarnings.length > 0)
            console.error(['', 'validate warned about these scripted calls:', ...scriptWarnings].join('\n'));
        }
        process.exitCode = exitStatus(meta, problems);
      } finally {
        await host.close();
      }
      // Everything of ours is closed; a step still waiting (an approval's day-long wait) holds only the
      // local engine's timer, which would keep the process alive after Ctrl-C.
      if (controller.signal.aborted) process.exit(INTERRUPTED_EXIT);
    },
  );

registerReadCommands(program, stateDirOption);
registerLocalDbCommand(program, stateDirOption);

program
  .command('inventory')
  .description('every agent: owner, triggers, model, what it can touch (with flags), approvals, budgets, sub-agents')
  .option('--org <dir>', 'the org folder with the definitions', 'agents')
  .option('--json', 'machine-readable output')
  .action(async (options: { org: string; json?: boolean }) => {
    const entries = buildInventory(await loadCatalog(options.org));
    console.log(options.json ? JSON.stringify(entries, null, 2) : inventoryText(entries));
  });

program
  .command('pin')
  .description(
    "record a hash of each declared tool's name, description and schema; a tool that changes later is disabled until pinned again",
  )
  .argument('[servers...]', 'server names (default: all)')
  .option('--org <dir>', 'the org folder with the definitions', 'agents')
  .addOption(stateDirOption)
  .action(async (servers: string[], options: { org: string; stateDir: string }) => {
    const ok = await pinServers({
      orgDir: options.org,
      stateDir: resolve(options.stateDir),
      servers,
      log: (line) => console.log(line),
    });
    process.exitCode = ok ? 0 : 1;
  });

program
  .command('mcp-gateway')
  .description(
    "serve an agent's view of its tools as one MCP endpoint on 127.0.0.1: same grants, flags and traces as its loop",
  )
  .argument('<agent>', 'the agent name')
  .option('--port <n>', 'the port (0 picks a free one)', '0')
  .option('--org <dir>', 'the org folder with the definitions', 'agents')
  .addOption(stateDirOption)
  .option('--token <token>', 'the bearer token clients must send (default: a random one, printed once)')
  .action((agent: string, options: { port: string; org: string; stateDir: string; token?: string }) =>
    mcpGatewayCommand(agent, options),
  );

// The HTTP API: `looprail dev` serves it locally; `start` and `cancel` talk to it through the one client.
program
  .command('dev')
  .description('serve the HTTP API (runs, traces, approvals, inventory) on 127.0.0.1 with the local host behind it')
  .option('--port <n>', 'the port (0 picks a free one)', '8787')
  .option('--org <dir>', 'the org folder with the definitions', 'agents')
  .addOption(stateDirOption)
  .action((options: { port: string; org: string; stateDir: string }) => devCommand(options));

program
  .command('console')
  .description("serve a deployed stack's web console on 127.0.0.1, each page signed with your AWS credentials (SigV4)")
  .requiredOption('--url <url>', "the deployed API's URL (the stack's ApiUrl output)")
  .option('--region <region>', "the API's Region (default: from its URL)")
  .option('--port <n>', 'the port (0 picks a free one)', '8788')
  .action((options: { url: string; region?: string; port: string }) => consoleCommand(options));

const urlOption = new Option('--url <url>', "the API's URL (default: the running `looprail dev` server)");
const tokenOption = new Option('--token <token>', "the bearer token (default: the dev server's)");

program
  .command('start')
  .description('start a run through the HTTP API (a dev server, or --url) and print its id')
  .argument('<agent>', 'the agent name')
  .option('--input <json>', 'the run input as JSON', '{}')
  .option('--idempotency-key <key>', 'the same key never starts a second run')
  .addOption(urlOption)
  .addOption(tokenOption)
  .addOption(stateDirOption)
  .option('--json', 'the run as JSON')
  .action(
    async (
      agent: string,
      options: {
        input: string;
        idempotencyKey?: string;
        url?: string;
        token?: string;
        stateDir: string;
        json?: boolean;
      },
    ) => {
      const client = clientFor(await resolveEndpoint(options));
      const { created, run } = await client.startRun({
        agent,
        input: parseInput(options.input, '--input'),
        idempotencyKey: options.idempotencyKey,
      });
      if (options.json) return void console.log(JSON.stringify({ created, run }, null, 2));
      console.log(
        `${created ? 'started' : 'already started with this key:'} run ${run.runId} of ${run.agent} (${run.status})`,
      );
    },
  );

program
  .command('cancel')
  .description("stop a run's execution through the HTTP API; the run ends cancelled")
  .argument('<runId>')
  .addOption(urlOption)
  .addOption(tokenOption)
  .addOption(stateDirOption)
  .action(async (runId: string, options: { url?: string; token?: string; stateDir: string }) => {
    const client = clientFor(await resolveEndpoint(options));
    const run = await client.cancelRun(runId);
    console.log(`run ${run.runId}: ${run.stopReason ?? run.status}`);
  });

program
  .command('lock')
  .description(
    'record the hash of every versioned instructions file, and resolve every skill pin in the skills registry; validate then refuses what was changed without a new version',
  )
  .option('--org <dir>', 'the org folder with the definitions', 'agents')
  .addOption(stateDirOption)
  .action(async (options: { org: string; stateDir: string }) => {
    process.exitCode = (await lockOrg({
      orgDir: options.org,
      log: (line) => console.log(line),
      openSkills: () => openLocalSkills(options.stateDir),
    }))
      ? 0
      : 1;
  });

registerSkillsCommand(program, stateDirOption);
registerMemoryCommand(program, stateDirOption);
registerSecretsCommand(program, stateDirOption);
registerDoctorCommand(program);
registerDiffCommand(program);
registerReplayCommand(program, stateDirOption);
registerEvalCommand(program, stateDirOption);
registerScaffoldCommands(program, stateDirOption);
registerSchemaCommand(program);
registerApprovalsCommands(program, { urlOption, tokenOption, stateDirOption });

function parseInput(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON: ${(error as Error).message}`);
  }
}

program.parseAsync(process.argv).catch((error: unknown) => {
  const err = error as Error;
  console.error(`looprail: ${err.message}`);
  if (process.env.LOOPRAIL_DEBUG) console.error(err.stack);
  process.exitCode = error instanceof ReviewInputError ? error.exitCode : 1;
});
