import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { ScriptedModelProvider } from '../../adapters/models/scripted.ts';
import { formatProblem } from '../../adapters/catalog/fs-loader.ts';
import { runUsage } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { parseYaml, validateWith } from '../../core/definitions/yaml-source.ts';
import { formatUsd } from '../../core/format/usd.ts';
import type { ModelProvider, ModelProviders } from '../../core/ports/models.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import { EvalSuite, isWrittenCase, missedExpectations, type WrittenCase } from '../../core/review/eval-suite.ts';
import { type LocalRunResult, startLocalHost } from '../local/host.ts';
import { readExport, readRecording, replayRun } from './replay.ts';
import { ReviewInputError } from './review-errors.ts';

/**
 * `looprail eval <suite.yaml> [--org <folder>]`: every case of the suite against the
 * definitions in the working tree (core/review/eval-suite.ts) — recorded cases replayed,
 * written cases run through the real loop with their turns as the model — and a pass/fail
 * table with what each cost. Exit 0 when every case passes, 2 when one fails, 1 when the
 * suite does not load.
 */

export const EVAL_FAILED_EXIT = 2;

export interface CaseResult {
  name: string;
  /** Replayed from a recording, run with scripted turns, or run against the real models (`--live`). */
  kind: 'replay' | 'run' | 'live';
  passed: boolean;
  /** The run a live case made, kept in the state folder (`looprail trace <runId>`). */
  runId?: string;
  costMicros: number;
  /** Why it failed, or what it checked. */
  detail: string;
}

export function registerEvalCommand(program: Command, stateDirOption: Option): void {
  program
    .command('eval')
    .description('run an eval suite (recorded runs replayed, written cases run) against the current definitions')
    .argument('<suite>', 'the suite file (YAML)')
    .option('--org <dir>', 'the org folder with the definitions', 'agents')
    .addOption(stateDirOption)
    .option(
      '--live',
      'run written cases against the real models named in the definitions (real runs: traced, priced, budgeted)',
    )
    .option('--json', 'machine-readable output')
    .action(async (suite: string, options: { org: string; stateDir: string; live?: boolean; json?: boolean }) => {
      const results = await runSuite({
        suiteFile: suite,
        orgDir: options.org,
        stateDir: options.stateDir,
        live: options.live,
      });
      if (options.json) console.log(JSON.stringify({ suite, results }, null, 2));
      else console.log(evalTable(results));
      process.exitCode = results.every((result) => result.passed) ? 0 : EVAL_FAILED_EXIT;
    });
}

/** The suite file, checked: every problem at its line, as validate reports them. */
export async function loadSuite(file: string): Promise<EvalSuite> {
  const parsed = parseYaml({ file, text: await readFile(file, 'utf8') }, 'an eval suite: cases: [...]');
  const checked = parsed.ok ? validateWith(EvalSuite, parsed.parsed) : parsed;
  if (!checked.ok)
    throw new ReviewInputError(
      'bad_file',
      `the suite does not load:\n${checked.problems.map(formatProblem).join('\n')}`,
    );
  return checked.value;
}

export async function runSuite(options: {
  suiteFile: string;
  orgDir: string;
  /** Where recorded cases named by run id are read, and where `live` runs are kept (default .looprail). */
  stateDir?: string;
  /** Written cases against the real models named in the definitions: real runs, traced and budgeted in the state folder. */
  live?: boolean;
}): Promise<CaseResult[]> {
  const suite = await loadSuite(options.suiteFile);
  const stateDir = resolve(options.stateDir ?? '.looprail');
  const results: CaseResult[] = [];
  const written = suite.cases.filter(isWrittenCase);
  const writtenResults =
    written.length > 0
      ? await runWrittenCases(written, options.orgDir, options.live ? stateDir : undefined)
      : new Map();
  for (const each of suite.cases) {
    if (isWrittenCase(each)) {
      results.push(writtenResults.get(each)!);
      continue;
    }
    // A file from `looprail export`, or a run id in the local state folder.
    const recording = each.recorded.endsWith('.json')
      ? await readExport(resolve(dirname(options.suiteFile), each.recorded))
      : await readRecording(each.recorded, stateDir);
    const replayed = await replayRun({ recording, orgDir: options.orgDir });
    const { divergence, same } = replayed.report;
    results.push({
      name: each.name,
      kind: 'replay',
      passed: !divergence,
      costMicros: replayed.costMicros,
      detail: divergence ? divergence.reading : `${same} decisions the same`,
    });
  }
  return results;
}

/**
 * Written cases on one host, one after another. Scripted (no `liveState`): a temporary state
 * folder, each case's turns as every model's answers. Live: the real models, on the state folder
 * given, so each case is a real run — traced, priced and counted against the budgets like any other.
 */
async function runWrittenCases(
  cases: WrittenCase[],
  orgDir: string,
  liveState: string | undefined,
): Promise<Map<WrittenCase, CaseResult>> {
  const results = new Map<WrittenCase, CaseResult>();
  // Without --live, a case with no turns has nothing to play as the model: it fails without a run.
  for (const each of cases)
    if (!liveState && !each.turns)
      results.set(each, {
        name: each.name,
        kind: 'run',
        passed: false,
        costMicros: 0,
        detail: 'no turns to play as the model: this case runs only with --live',
      });
  const runnable = cases.filter((each) => !results.has(each));
  if (runnable.length === 0) return results;
  const current = { case: runnable[0]! };
  const stateDir = liveState ?? (await mkdtemp(join(tmpdir(), 'looprail-eval-')));
  const stop = { controller: new AbortController() };
  const host = await startLocalHost({
    orgDir,
    stateDir,
    retryIntervalMs: 0,
    // A case that would wait for a person ends there: its stop reason says so.
    onCommit: (_runId, commit) => {
      if (commit.trace?.some((event) => event.kind === 'approval_requested')) stop.controller.abort();
    },
    wrapDeps: liveState ? undefined : (deps) => ({ ...deps, providers: scriptedProviders(deps.providers, current) }),
  });
  try {
    for (const each of runnable) {
      current.case = each;
      stop.controller = new AbortController();
      const run = await host.run({ agent: each.agent, input: each.input, principal: 'eval' }, stop.controller.signal);
      results.set(each, { ...(await judgeCase(host.deps.store, each, run)), kind: liveState ? 'live' : 'run' });
    }
  } finally {
    await host.close();
    if (!liveState) await rm(stateDir, { recursive: true, force: true });
  }
  return results;
}

/** Every provider plays the current case's turns (the checker's to a checker), under its own name. */
function scriptedProviders(providers: ModelProviders, current: { case: WrittenCase }): ModelProviders {
  const scripted = new ScriptedModelProvider();
  const casePlays = (name: string): ModelProvider => ({
    name: name as ModelProvider['name'],
    complete: (request) =>
      scripted.complete({
        ...request,
        model: {
          ...request.model,
          script: {
            turns: request.role === 'checker' ? current.case.checker_turns : (current.case.turns ?? []),
            after_last: 'error',
          },
        },
      }),
  });
  return Object.fromEntries(Object.keys(providers).map((name) => [name, casePlays(name)])) as unknown as ModelProviders;
}

/** A written case's run against its expectations, the checker's trace included. */
async function judgeCase(store: RunStore, each: WrittenCase, run: LocalRunResult): Promise<CaseResult> {
  const trace = await store.listTrace(run.runId);
  const checkers: TraceEvent[] = [];
  for (const event of trace)
    if (event.kind === 'verification' && event.childRunId) checkers.push(...(await store.listTrace(event.childRunId)));
  const costMicros = runUsage(run.meta).costMicros;
  const missed = missedExpectations(each.expect, {
    stopReason: run.meta.stopReason ?? run.meta.status,
    stopDetail: run.meta.stopDetail,
    costMicros,
    trace: [...trace, ...checkers],
  });
  return {
    name: each.name,
    kind: 'run',
    passed: missed.length === 0,
    costMicros,
    runId: run.runId,
    detail: missed.length > 0 ? missed.join('; ') : `stopped ${run.meta.stopReason ?? run.meta.status}`,
  };
}

export function evalTable(results: CaseResult[]): string {
  const width = Math.max(4, ...results.map((result) => result.name.length));
  const lines = [`${'case'.padEnd(width)}  kind    result  ${'cost'.padStart(9)}  detail`];
  for (const result of results)
    lines.push(
      `${result.name.padEnd(width)}  ${result.kind.padEnd(6)}  ${result.passed ? '✓ pass' : '✗ FAIL'}  ${formatUsd(result.costMicros).padStart(9)}  ${result.detail}${result.kind === 'live' ? ` (run ${result.runId})` : ''}`,
    );
  const failed = results.filter((result) => !result.passed).length;
  lines.push(failed > 0 ? `${failed} of ${results.length} cases failed` : `all ${results.length} cases passed`);
  return lines.join('\n');
}
