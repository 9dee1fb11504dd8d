import { Name } from '../definitions/primitives.ts';
import { ScriptTurn } from '../definitions/org.ts';
import { StopReason } from '../definitions/run.ts';
import type { TraceEvent } from '../definitions/trace.ts';
import { readableToolName } from '../definitions/context.ts';
import * as z from '../definitions/zod.ts';
import { formatUsd, formatUsdAmount } from '../format/usd.ts';

/**
 * An eval suite (`looprail eval <suite.yaml>`): cases a change to the definitions must still
 * pass. A recorded case is a run exported with `looprail export` and replayed (it passes when
 * every decision is the same); a written case is an input, the model's turns as a script, and
 * what must hold at the end. Checked against the definitions in the working tree.
 */

export const Expectations = z.strictObject({
  stop_reason: z.optional(StopReason),
  /** Tools (`server.tool`, or `server__tool`) the run must have called successfully, maker or checker. */
  calls: z._default(z.array(z.string().check(z.minLength(1))), []),
  /** Tools the run must not have called (a call the runtime refused was not made). */
  not_calls: z._default(z.array(z.string().check(z.minLength(1))), []),
  /** The run's whole cost, its checker's included, at most this. */
  max_cost_usd: z.optional(z.number().check(z.minimum(0))),
  /** The last verification's verdict. */
  verdict: z.optional(z.enum(['pass', 'fail'])),
});
export type Expectations = z.infer<typeof Expectations>;

export const RecordedCase = z.strictObject({
  name: z.string().check(z.minLength(1, 'expected a name for the case')),
  /** A file written by `looprail export <runId>`, relative to the suite file; or a run id in the local state folder. */
  recorded: z.string().check(z.minLength(1)),
});

export const WrittenCase = z.strictObject({
  name: z.string().check(z.minLength(1, 'expected a name for the case')),
  agent: Name,
  input: z._default(z.unknown(), {}),
  /** The maker's model turns, in the scripted model's format; a case without them runs only with `--live` (the real models). */
  turns: z.optional(
    z
      .array(ScriptTurn)
      .check(z.minLength(1, 'expected at least one turn (or none at all, for a case run only with --live)')),
  ),
  /** The checker's turns, across its attempts, when the agent has a checker (ignored with `--live`). */
  checker_turns: z._default(z.array(ScriptTurn), []),
  expect: Expectations,
});

export const EvalSuite = z.strictObject({
  cases: z.array(z.union([RecordedCase, WrittenCase])).check(z.minLength(1, 'expected at least one case')),
});
export type EvalSuite = z.infer<typeof EvalSuite>;
export type WrittenCase = z.infer<typeof WrittenCase>;
export type RecordedCase = z.infer<typeof RecordedCase>;

export const isWrittenCase = (each: EvalSuite['cases'][number]): each is WrittenCase => 'agent' in each;

/** What a written case's run came to: its stop reason, cost and every trace event, the checker's included. */
export interface CaseOutcome {
  stopReason?: string;
  /** Why it stopped, in the runtime's words (shown when the stop is not the one expected). */
  stopDetail?: string;
  costMicros: number;
  trace: TraceEvent[];
}

/** Every expectation the outcome misses, in plain words (empty: the case passes). */
export function missedExpectations(expect: Expectations, outcome: CaseOutcome): string[] {
  const missed: string[] = [];
  const called = new Set(
    outcome.trace.filter((event) => event.kind === 'tool_call' && event.status === 'ok').map((event) => event.name),
  );
  // A call the runtime refused (denied, or waiting for a person) was not made.
  const made = new Set(outcome.trace.filter((event) => event.kind === 'tool_call').map((event) => event.name));
  if (expect.stop_reason && outcome.stopReason !== expect.stop_reason)
    missed.push(
      `stopped ${outcome.stopReason ?? '(no stop reason)'}${outcome.stopDetail ? ` (${outcome.stopDetail.slice(0, 200)})` : ''}, expected ${expect.stop_reason}`,
    );
  // Written either way (`server.tool`, or `server__tool` as models call it), read as traces name tools.
  for (const tool of expect.calls.map(readableToolName))
    if (!called.has(tool)) missed.push(`never called ${tool} successfully`);
  for (const tool of expect.not_calls.map(readableToolName))
    if (made.has(tool)) missed.push(`called ${tool}, expected not to`);
  if (expect.max_cost_usd !== undefined && outcome.costMicros > expect.max_cost_usd * 1_000_000)
    missed.push(`cost ${formatUsd(outcome.costMicros)}, more than ${formatUsdAmount(expect.max_cost_usd)}`);
  if (expect.verdict) {
    const verdict = outcome.trace.filter((event) => event.kind === 'verification').at(-1)?.status;
    if (verdict !== expect.verdict) missed.push(`the checker said ${verdict ?? 'nothing'}, expected ${expect.verdict}`);
  }
  return missed;
}
