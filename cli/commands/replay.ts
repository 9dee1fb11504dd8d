import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Command, Option } from 'commander';
import { DynamoResultStore } from '../../adapters/dynamodb/result-store.ts';
import { runUsage } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import type { ModelProvider, ModelProviders } from '../../core/ports/models.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import {
  compareDecisions,
  decisionsOf,
  EXPORT_FORMAT,
  ExportedRun,
  type RecordedRun,
  Recording,
  recordedDecisions,
  type ReplayReport,
} from '../../core/review/replay.ts';
import { openLocalState, startLocalHost } from '../local/host.ts';
import { ReviewInputError } from './review-errors.ts';

/**
 * `looprail replay <runId> [--org <folder>]`: a recorded local run played again under the
 * definitions in the working tree, calling no model and no tool (core/review/replay.ts), and
 * where the new definitions first decide differently. The replay runs on a state folder of its
 * own, so nothing of it is counted in the real one's runs, rollups or budgets. Exit 0 when
 * every decision is the same, 2 when one differs, 1 when the run cannot be replayed.
 */

export const REPLAY_DIVERGED_EXIT = 2;

export function registerReplayCommand(program: Command, stateDirOption: Option): void {
  program
    .command('replay')
    .description(
      'play a recorded run again under the current definitions, calling no model or tool, and show where it decides differently',
    )
    .argument('<run>', 'a recorded local run (the maker), or a file written by looprail export')
    .option('--org <dir>', 'the org folder with the definitions', 'agents')
    .addOption(stateDirOption)
    .option('--json', 'machine-readable output')
    .action(async (run: string, options: { org: string; stateDir: string; json?: boolean }) => {
      const recording = run.endsWith('.json')
        ? await readExport(run)
        : await readRecording(run, resolve(options.stateDir));
      const result = await replayRun({ recording, orgDir: options.org, stateDir: options.stateDir });
      if (options.json) console.log(JSON.stringify(result, null, 2));
      else console.log(replayText(result));
      process.exitCode = result.report.divergence ? REPLAY_DIVERGED_EXIT : 0;
    });
  program
    .command('export')
    .description(
      'write a recorded local run (and its checker runs) to a file that replay and eval read, to keep in Git',
    )
    .argument('<runId>', 'a recorded local run (the maker)')
    .option('--out <file>', 'where to write it', '<runId>.json')
    .addOption(stateDirOption)
    .action(async (runId: string, options: { out: string; stateDir: string }) => {
      const recording = await readRecording(runId, resolve(options.stateDir));
      const out = options.out === '<runId>.json' ? `${runId}.json` : options.out;
      await mkdir(dirname(resolve(out)), { recursive: true });
      await writeFile(out, `${JSON.stringify(recording, null, 2)}\n`);
      console.log(
        `wrote ${out}: ${recording.agent}, ${recording.runs.length} run${recording.runs.length === 1 ? '' : 's'}`,
      );
    });
}

/** A file written by `looprail export`, checked: a file that is not one is named with what is wrong. */
export async function readExport(file: string): Promise<ExportedRun> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ReviewInputError('bad_file', `${file}: not a looprail export (${(error as Error).message})`);
  }
  const format = (data as { looprail_export?: unknown } | null)?.looprail_export;
  if (typeof format === 'number' && format > EXPORT_FORMAT)
    throw new ReviewInputError(
      'export_too_new',
      `${file}: written by a newer looprail (export format ${format}); this looprail reads format ${EXPORT_FORMAT}: upgrade looprail to replay it`,
    );
  const parsed = ExportedRun.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ReviewInputError('bad_file', `${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

export interface ReplayResult {
  recordedRunId: string;
  replayRunId: string;
  agent: string;
  /** What the replayed run cost at the recorded tokens, under the current prices. */
  costMicros: number;
  report: ReplayReport;
}

/** Replays a recording on a temporary host, and compares its decisions with the recorded ones. */
export async function replayRun(options: {
  recording: ExportedRun;
  orgDir: string;
  /** Where the servers' secrets are read from (the servers are started to list their tools). */
  stateDir?: string;
}): Promise<ReplayResult> {
  const meta = options.recording;
  const recording = new Recording(meta.runs);
  const replayState = await mkdtemp(join(tmpdir(), 'looprail-replay-'));
  const secretsFile = join(resolve(options.stateDir ?? '.looprail'), 'secrets.json');
  if (existsSync(secretsFile)) await copyFile(secretsFile, join(replayState, 'secrets.json'));
  // A run that would now wait for a person stops there: the decision is theirs, and none was recorded.
  const atApproval = new AbortController();
  const host = await startLocalHost({
    orgDir: options.orgDir,
    stateDir: replayState,
    retryIntervalMs: 0,
    onCommit: (_runId, commit) => {
      if (commit.trace?.some((event) => event.kind === 'approval_requested')) atApproval.abort();
    },
    wrapDeps: (deps) => ({
      ...deps,
      providers: replayProviders(deps.providers, recording),
      tools: replayTools(deps.tools, recording),
      // Nothing runs for real in a replay: a sandbox (a `verify.checks` command the new
      // definition adds) fails with its clear "no sandbox" error instead of running code.
      sandboxes: undefined,
    }),
  });
  try {
    const replayed = await host.run(
      { agent: meta.agent, input: meta.input, principal: meta.principal, trigger: meta.trigger },
      atApproval.signal,
    );
    return {
      recordedRunId: meta.runId,
      replayRunId: replayed.runId,
      agent: meta.agent,
      costMicros: runUsage(replayed.meta).costMicros,
      report: compareDecisions(recordedDecisions(meta), await decisionsIn(host.deps.store, replayed.runId)),
    };
  } finally {
    await host.close();
    await rm(replayState, { recursive: true, force: true });
  }
}

/** A recorded run and its checker runs, read from a local state folder. */
export async function readRecording(runId: string, stateDir: string): Promise<ExportedRun> {
  const state = await openLocalState({ stateDir });
  try {
    return await recordingIn(state, runId, stateDir);
  } finally {
    await state.close();
  }
}

/** The same, from a store already open (a host's): what `looprail export` writes. */
export async function recordingIn(
  state: { store: RunStore; client: DynamoDBClient; tableName: string },
  runId: string,
  where: string,
): Promise<ExportedRun> {
  const meta = await state.store.getRun(runId);
  if (!meta)
    throw new ReviewInputError(
      'no_such_run',
      `replay: no run ${runId} in ${where} (\`looprail runs\` lists the runs there; --state-dir reads another folder)`,
    );
  if (meta.role !== 'maker')
    throw new ReviewInputError(
      'not_replayable',
      `replay: ${runId} is a ${meta.role} run; replay its maker run (${meta.parentRunId ?? '?'})`,
    );
  if (meta.status !== 'finished' && meta.status !== 'failed')
    throw new ReviewInputError(
      'run_not_ended',
      `replay: run ${runId} is still ${meta.status}; a run is replayed once it has ended (nothing past its last step was recorded yet)`,
    );
  const results = new DynamoResultStore({ client: state.client, tableName: state.tableName });
  const runs: RecordedRun[] = [];
  const read = async (id: string, role: RecordedRun['role']) => {
    const trace = await state.store.listTrace(id);
    if (trace.some((event) => event.kind === 'delegation'))
      throw new ReviewInputError(
        'not_replayable',
        `replay: run ${id} delegated to sub-agents; replaying delegated runs is not supported yet (docs/review.md says why)`,
      );
    if (trace.some((event) => (event.kind === 'tool_call' && event.server === 'sandbox') || event.sandbox))
      throw new ReviewInputError(
        'not_replayable',
        `replay: run ${id} used a sandbox; replaying sandbox calls is not supported yet (docs/review.md says why)`,
      );
    const loaded = await state.store.loadState(id);
    const offloaded: Record<string, string> = {};
    for (const event of trace) {
      if (!event.resultHandle || !event.callId) continue;
      const lookup = await results.getResult(id, event.callId);
      if (lookup.state === 'found') offloaded[event.callId] = lookup.result.text;
    }
    runs.push({ runId: id, role, messages: loaded?.messages ?? [], trace, offloaded });
    return trace;
  };
  const trace = await read(runId, 'maker');
  for (const event of trace)
    if (event.kind === 'verification' && event.childRunId) await read(event.childRunId, 'checker');
  return {
    looprail_export: 1,
    runId,
    agent: meta.agent,
    input: meta.input,
    principal: meta.principal,
    trigger: meta.trigger,
    runs,
  };
}

async function decisionsIn(store: RunStore, runId: string) {
  const trace = await store.listTrace(runId);
  const children = new Map<string, TraceEvent[]>();
  for (const event of trace)
    if (event.kind === 'verification' && event.childRunId)
      children.set(event.childRunId, await store.listTrace(event.childRunId));
  return decisionsOf(trace, children);
}

/** Every provider answers from the recording, under its own name. */
function replayProviders(providers: ModelProviders, recording: Recording): ModelProviders {
  const replay = (name: string): ModelProvider => ({
    name: name as ModelProvider['name'],
    complete: async (request) => recording.answer(request),
  });
  return Object.fromEntries(Object.keys(providers).map((name) => [name, replay(name)])) as unknown as ModelProviders;
}

/** Tools are listed by their servers (what the model would be shown) and answered from the recording. */
function replayTools(tools: ToolGateway, recording: Recording): ToolGateway {
  return {
    listTools: (server) => tools.listTools(server),
    callTool: async (server, tool, args) => recording.result(server.name, tool, args),
    close: () => tools.close(),
  };
}

export function replayText(result: ReplayResult): string {
  const { report } = result;
  const head = `replay of ${result.agent} run ${result.recordedRunId} under the current definitions (replay run ${result.replayRunId})`;
  if (!report.divergence) return `${head}\n✓ every decision is the same (${report.same})`;
  const { recorded, replayed, reading } = report.divergence;
  const line = (label: string, decision: typeof recorded) =>
    decision
      ? `  ${label} ${decision.where}: ${decision.kind} ${decision.name} ${decision.status}${decision.stopReason ? ` (${decision.stopReason})` : ''}`
      : `  ${label} (nothing)`;
  return [
    head,
    `${report.same} decision${report.same === 1 ? '' : 's'} the same, then:`,
    `✗ ${reading}`,
    line('recorded:', recorded),
    line('now:     ', replayed),
    'Nothing was recorded past this point, so the replay stops here.',
  ].join('\n');
}
