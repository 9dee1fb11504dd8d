import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { DynamoResultStore } from '../../adapters/dynamodb/result-store.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import type { ModelProvider, ModelProviders } from '../../core/ports/models.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import {
  compareDecisions,
  decisionsOf,
  type RecordedRun,
  Recording,
  type ReplayReport,
} from '../../core/review/replay.ts';
import { openLocalState, startLocalHost } from '../local/host.ts';

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
    .argument('<runId>', 'a recorded local run (the maker)')
    .option('--org <dir>', 'the org folder with the definitions', 'agents')
    .addOption(stateDirOption)
    .option('--json', 'machine-readable output')
    .action(async (runId: string, options: { org: string; stateDir: string; json?: boolean }) => {
      const result = await replayRun({ runId, orgDir: options.org, stateDir: options.stateDir });
      if (options.json) console.log(JSON.stringify(result, null, 2));
      else console.log(replayText(result));
      process.exitCode = result.report.divergence ? REPLAY_DIVERGED_EXIT : 0;
    });
}

export interface ReplayResult {
  recordedRunId: string;
  replayRunId: string;
  agent: string;
  report: ReplayReport;
}

/** Reads the recording from `stateDir`, replays it on a temporary host, and compares their decisions. */
export async function replayRun(options: { runId: string; orgDir: string; stateDir: string }): Promise<ReplayResult> {
  const { meta, runs, decisions } = await readRecording(options.runId, resolve(options.stateDir));
  const recording = new Recording(runs);
  const replayState = await mkdtemp(join(tmpdir(), 'looprail-replay-'));
  const secretsFile = join(resolve(options.stateDir), 'secrets.json');
  // The servers are started to list their tools (never called): they need what they need in a real run.
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
    }),
  });
  try {
    const replayed = await host.run(
      { agent: meta.agent, input: meta.input, principal: meta.principal, trigger: meta.trigger },
      atApproval.signal,
    );
    const replayedDecisions = await decisionsIn(host.deps.store, replayed.runId);
    return {
      recordedRunId: options.runId,
      replayRunId: replayed.runId,
      agent: meta.agent,
      report: compareDecisions(decisions, replayedDecisions),
    };
  } finally {
    await host.close();
    await rm(replayState, { recursive: true, force: true });
  }
}

async function readRecording(runId: string, stateDir: string) {
  const state = await openLocalState({ stateDir });
  try {
    const meta = await state.store.getRun(runId);
    if (!meta) throw new Error(`replay: no run ${runId} in ${stateDir}`);
    if (meta.role !== 'maker')
      throw new Error(`replay: ${runId} is a ${meta.role} run; replay its maker run (${meta.parentRunId ?? '?'})`);
    const results = new DynamoResultStore({ client: state.client, tableName: state.tableName });
    const runs: RecordedRun[] = [];
    const children = new Map<string, TraceEvent[]>();
    const read = async (id: string, role: RecordedRun['role']) => {
      const trace = await state.store.listTrace(id);
      if (trace.some((event) => event.kind === 'delegation'))
        throw new Error(`replay: run ${id} delegated to sub-agents; replaying delegated runs is not supported yet`);
      if (trace.some((event) => event.kind === 'tool_call' && event.server === 'sandbox'))
        throw new Error(`replay: run ${id} used a sandbox; replaying sandbox calls is not supported yet`);
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
      if (event.kind === 'verification' && event.childRunId)
        children.set(event.childRunId, await read(event.childRunId, 'checker'));
    return { meta, runs, decisions: decisionsOf(trace, children) };
  } finally {
    await state.close();
  }
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
