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
import { EvalSuite, missedExpectations, type WrittenCase } from '../../core/review/eval-suite.ts';
import { startLocalHost } from '../local/host.ts';
import { readExport, readRecording, replayRun } from './replay.ts';

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
  kind: 'replay' | 'run';
  passed: boolean;
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
    .option('--json', 'machine-readable output')
    .action(async (suite: string, options: { org: string; stateDir: string; json?: boolean }) => {
      const results = await runSuite({ suiteFile: suite, orgDir: options.org, stateDir: options.stateDir });
      if (options.json) console.log(JSON.stringify({ suite, results }, null, 2));
      else console.log(evalTable(results));
      process.exitCode = results.every((result) => result.passed) ? 0 : EVAL_FAILED_EXIT;
    });
}

/** The suite file, checked: every problem at its line, as validate reports them. */
export async function loadSuite(file: string): Promise<EvalSuite> {
  const parsed = parseYaml({ file, text: await readFile(file, 'utf8') }, 'an eval suite: cases: [...]');
  const checked = parsed.ok ? validateWith(EvalSuite, parsed.parsed) : parsed;
  if (!checked.ok) throw new Error(`the suite does not load:\n${checked.problems.map(formatProblem).join('\n')}`);
  return checked.value;
}

export async function runSuite(options: {
  suiteFile: string;
  orgDir: string;
  /** Where recorded cases named by run id are read (default .looprail). */
  stateDir?: string;
}): Promise<CaseResult[]> {
  const suite = await loadSuite(options.suiteFile);
  const results: CaseResult[] = [];
  const written = suite.cases.filter((each): each is WrittenCase => 'turns' in each);
  const writtenResults = written.length > 0 ? await runWrittenCases(written, options.orgDir) : new Map();
  for (const each of suite.cases) {
    if ('turns' in each) {
      results.push(writtenResults.get(each)!);
      continue;
    }
    // A file from `looprail export`, or a run id in the local state folder.
    const recording = each.recorded.endsWith('.json')
      ? await readExport(resolve(dirname(options.suiteFile), each.recorded))
      : await readRecording(each.recorded, resolve(options.stateDir ?? '.looprail'));
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

/** Written cases on one temporary host, one after another, each case's turns as every model's answers. */
async function runWrittenCases(cases: WrittenCase[], orgDir: string): Promise<Map<WrittenCase, CaseResult>> {
  let current: WrittenCase = cases[0]!;
  const scripted = new ScriptedModelProvider();
  const casePlays = (name: string): ModelProvider => ({
    name: name as ModelProvider['name'],
    complete: (request) =>
      scripted.complete({
        ...request,
        model: {
          ...request.model,
          script: { turns: request.role === 'checker' ? current.checker_turns : current.turns, after_last: 'error' },
        },
      }),
  });
  const stateDir = await mkdtemp(join(tmpdir(), 'looprail-eval-'));
  const stop = { controller: new AbortController() };
  const host = await startLocalHost({
    orgDir,
    stateDir,
    retryIntervalMs: 0,
    // A case that would wait for a person ends there: its stop reason says so.
    onCommit: (_runId, commit) => {
      if (commit.trace?.some((event) => event.kind === 'approval_requested')) stop.controller.abort();
    },
    wrapDeps: (deps) => ({
      ...deps,
      providers: Object.fromEntries(
        Object.keys(deps.providers).map((name) => [name, casePlays(name)]),
      ) as unknown as ModelProviders,
    }),
  });
  const results = new Map<WrittenCase, CaseResult>();
  try {
    for (const each of cases) {
      current = each;
      stop.controller = new AbortController();
      const run = await host.run({ agent: each.agent, input: each.input, principal: 'eval' }, stop.controller.signal);
      const trace = await host.deps.store.listTrace(run.runId);
      const checkers: TraceEvent[] = [];
      for (const event of trace)
        if (event.kind === 'verification' && event.childRunId)
          checkers.push(...(await host.deps.store.listTrace(event.childRunId)));
      const costMicros = runUsage(run.meta).costMicros;
      const missed = missedExpectations(each.expect, {
        stopReason: run.meta.stopReason ?? run.meta.status,
        stopDetail: run.meta.stopDetail,
        costMicros,
        trace: [...trace, ...checkers],
      });
      results.set(each, {
        name: each.name,
        kind: 'run',
        passed: missed.length === 0,
        costMicros,
        detail: missed.length > 0 ? missed.join('; ') : `stopped ${run.meta.stopReason ?? run.meta.status}`,
      });
    }
  } finally {
    await host.close();
    await rm(stateDir, { recursive: true, force: true });
  }
  return results;
}

export function evalTable(results: CaseResult[]): string {
  const width = Math.max(4, ...results.map((result) => result.name.length));
  const lines = [`${'case'.padEnd(width)}  kind    result  ${'cost'.padStart(9)}  detail`];
  for (const result of results)
    lines.push(
      `${result.name.padEnd(width)}  ${result.kind.padEnd(6)}  ${result.passed ? '✓ pass' : '✗ FAIL'}  ${formatUsd(result.costMicros).padStart(9)}  ${result.detail}`,
    );
  const failed = results.filter((result) => !result.passed).length;
  lines.push(failed > 0 ? `${failed} of ${results.length} cases failed` : `all ${results.length} cases passed`);
  return lines.join('\n');
}
