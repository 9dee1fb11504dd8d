import type { AgentView } from '../definitions/context.ts';
import type { RunMeta } from '../definitions/run.ts';
import { callTimeoutSeconds } from '../definitions/server-timeouts.ts';
import type { NewTraceEvent } from '../definitions/trace.ts';
import { isCommandCheck, type CommandCheck, type ToolCheck, type VerifyCheck } from '../definitions/verify-checks.ts';
import { errorMessage, ToolTimeoutError } from '../errors.ts';
import {
  checkScript,
  cutTail,
  describeCommandOutcome,
  keptBytes,
  leftoverScript,
  matchResult,
  outputSection,
  readCheckOutput,
  type CheckOutput,
} from '../loop/checks.ts';
import { grantedTools } from '../policy/grants.ts';
import type { ExecResult, Sandbox } from '../ports/sandbox.ts';
import { sandboxCostMicros } from '../sandbox/tools.ts';
import type { RunDeps } from './deps.ts';
import { elapsedMs } from './load.ts';
import { openSandbox, runTools, type RunToolsDeps } from './sandbox.ts';
import { blockedReason, recorded, screenText } from './screening.ts';

/**
 * Runs one of `verify.checks` for the Verify step (core/run/verify.ts): a command in the
 * run's sandbox, or a read-only tool call, as the maker. Every failure — the command's,
 * the sandbox's, the tool's — is a failed check with a reason the maker reads, never a
 * crash of the step. What it cost (sandbox time) is on its trace event.
 */

export type CheckDeps = RunToolsDeps & Pick<RunDeps, 'clock' | 'guardrailRules'>;

export interface CheckRun {
  pass: boolean;
  /** The check's `verification` trace event (role maker, named after the check, no child run). */
  trace: NewTraceEvent;
  /** How it ended, in one line. */
  outcome: string;
  /** Its kept output (screened), as the maker reads it. */
  output: string;
  /** When the sandbox it ran in was copied in. */
  sandboxCreatedAt?: string;
}

/** Characters of the kept output the trace event's detail holds. */
const TRACE_OUTPUT_CHARS = 2000;

export async function runCheck(
  deps: CheckDeps,
  view: AgentView,
  meta: RunMeta,
  check: VerifyCheck,
  attempt: number,
): Promise<CheckRun> {
  const started = deps.clock.now();
  const ran = isCommandCheck(check)
    ? await runCommandCheck(deps, view, meta, check)
    : await runToolCheck(deps, view, meta, check);
  const ended = deps.clock.now();
  // What the check printed is untrusted, like any tool result: screened before the maker (or the trace) reads it.
  const screened = screenText(deps, view, ran.output, 'tool_output');
  const output = screened.blocked ? `(its output was withheld: ${blockedReason(screened.blocked)})` : screened.text;
  const trace: NewTraceEvent = {
    kind: 'verification',
    role: 'maker',
    name: check.name,
    status: ran.pass ? 'pass' : 'fail',
    startedAt: started.toISOString(),
    endedAt: ended.toISOString(),
    latencyMs: elapsedMs(started, ended),
    costMicros: ran.costMicros,
    attempt,
    ...(ran.sandbox ? { sandbox: ran.sandbox } : {}),
    ...(isCommandCheck(check) ? {} : { server: check.tool.split('.')[0], tool: toolOf(check) }),
    guardrails: recorded(screened.verdicts),
    detail: `${ran.outcome}\n${forTrace(output)}`,
  };
  return { pass: ran.pass, trace, outcome: ran.outcome, output, sandboxCreatedAt: ran.sandboxCreatedAt };
}

/** The kept output on the trace: its first line (what was kept of how much) and at most the last TRACE_OUTPUT_CHARS. */
function forTrace(output: string): string {
  const newline = output.indexOf('\n');
  if (newline < 0) return cutTail(output, TRACE_OUTPUT_CHARS);
  return `${output.slice(0, newline + 1)}${cutTail(output.slice(newline + 1), TRACE_OUTPUT_CHARS)}`;
}

interface Ran {
  pass: boolean;
  outcome: string;
  output: string;
  costMicros: number;
  sandbox?: NewTraceEvent['sandbox'];
  sandboxCreatedAt?: string;
}

const toolOf = (check: ToolCheck) => check.tool.slice(check.tool.indexOf('.') + 1);

async function runCommandCheck(deps: CheckDeps, view: AgentView, meta: RunMeta, check: CommandCheck): Promise<Ran> {
  const failed = (outcome: string): Ran => ({ pass: false, outcome, output: '(not run)', costMicros: 0 });
  const declared = view.sandbox;
  if (!declared) return failed(`\`${check.command}\` was not run: this agent declares no sandbox`);
  let sandbox: Sandbox;
  try {
    sandbox = await openSandbox(deps, declared, meta);
  } catch (error) {
    return failed(`\`${check.command}\` was not run: the sandbox is unavailable (${errorMessage(error)})`);
  }
  const { spec, pricePerHourMicros } = declared;
  const remainingMs = spec.run_timeout_seconds * 1000 - sandbox.usedMs();
  if (remainingMs < 1000)
    return failed(
      `\`${check.command}\` was not run: this run has used its sandbox time (run_timeout_seconds: ${spec.run_timeout_seconds})`,
    );
  const timeoutSeconds = Math.max(
    1,
    Math.min(
      check.timeout ?? spec.command_timeout_seconds,
      spec.command_timeout_seconds,
      Math.floor(remainingMs / 1000),
    ),
  );
  const keep = keptBytes(check, spec.max_output_bytes);
  const fresh = meta.sandboxCreatedAt !== undefined && meta.sandboxCreatedAt !== sandbox.createdAt;
  let durationMs = 0;
  let value: ExecResult;
  let output: CheckOutput;
  try {
    const run = await sandbox.exec({ command: checkScript(check, keep), cwd: '.', timeoutSeconds });
    durationMs += run.durationMs;
    value = run.value;
    output = readCheckOutput(value.output);
    // Killed at its timeout: what it printed until then is still in its log.
    if (value.timedOut || value.outputFlood) {
      const leftover = await sandbox.exec({ command: leftoverScript(keep), cwd: '.', timeoutSeconds: 10 });
      durationMs += leftover.durationMs;
      output = readCheckOutput(leftover.value.output);
    }
  } catch (error) {
    return failed(`\`${check.command}\` could not run in the sandbox: ${errorMessage(error)}`);
  }
  const pass = !value.timedOut && !value.outputFlood && value.exitCode === check.expect_exit_code;
  const note = fresh
    ? `the run's sandbox stopped after ${meta.sandboxCreatedAt} and this check ran in a fresh one (created ${sandbox.createdAt}) from copy_in: earlier changes to the workspace are gone. `
    : '';
  return {
    pass,
    outcome: note + describeCommandOutcome(check, { ...value, durationMs }, timeoutSeconds),
    output: outputSection(output, keep),
    costMicros: sandboxCostMicros(durationMs, pricePerHourMicros),
    sandbox: {
      command: check.command,
      exitCode: value.exitCode,
      timedOut: value.timedOut || undefined,
      outputBytes: output.totalBytes ?? Buffer.byteLength(output.tail),
      durationMs,
    },
    sandboxCreatedAt: sandbox.createdAt,
  };
}

async function runToolCheck(deps: CheckDeps, view: AgentView, meta: RunMeta, check: ToolCheck): Promise<Ran> {
  const serverName = check.tool.split('.')[0]!;
  const tool = toolOf(check);
  const failed = (outcome: string, output = '(no result)'): Ran => ({ pass: false, outcome, output, costMicros: 0 });
  const granted = grantedTools(view.grants, view.servers).find(
    (candidate) => candidate.server === serverName && candidate.tool === tool,
  );
  // Validation says so too; the run holds to it whatever definition it snapshotted.
  if (!granted) return failed(`${check.tool} was not called: the agent is not granted it`);
  if (!granted.readOnly) return failed(`${check.tool} was not called: a check may only call a read-only tool`);
  const server = view.servers[serverName]!;
  const timeoutSeconds = check.timeout ?? callTimeoutSeconds(server);
  const gateway = runTools(deps, view, meta);
  let result: { content: string; isError: boolean };
  try {
    result = await gateway.callTool(server, tool, check.arguments, { timeoutMs: timeoutSeconds * 1000 });
  } catch (error) {
    return failed(
      error instanceof ToolTimeoutError
        ? `${check.tool} did not answer within ${timeoutSeconds} s`
        : `${check.tool} failed: ${errorMessage(error)}`,
    );
  }
  const kept = cutTail(result.content, check.keep_output_bytes);
  if (result.isError) return failed(`${check.tool} returned an error`, `Its result:\n${kept}`);
  const match = matchResult(result.content, check.expect);
  return {
    pass: match.pass,
    outcome: `${check.tool}: ${match.detail}`,
    output: `Its result:\n${kept}`,
    costMicros: 0,
  };
}
