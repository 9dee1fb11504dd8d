import type { Role } from '../../definitions/run.ts';
import type { ToolCallBlock, ToolResultBlock } from '../../definitions/messages.ts';
import type { NewTraceEvent } from '../../definitions/trace.ts';
import type { RunPatch } from './patch.ts';

/**
 * What one tool call of a turn came to: the result the model reads, the trace event, and
 * what the call adds to the run record (its patch). Every outcome is made by the builders
 * below, so the result block, its error flag and the kind always agree.
 */

interface Answered {
  result: ToolResultBlock;
  trace: NewTraceEvent;
  patch?: RunPatch;
}

/** The server got the call: now, or in an earlier attempt whose recorded result is reused. */
export interface Executed extends Answered {
  kind: 'executed';
  /** A run_code call's own tool calls (code mode): traced and counted with the turn. */
  inner?: InnerCall[];
}

/** A guardrail blocked its arguments (not called) or its result (called, result withheld). */
export interface Blocked extends Answered {
  kind: 'blocked';
  /** Whether the server got the call. */
  called?: boolean;
  inner?: InnerCall[];
}

/** One of looprail's own tools answered inside the step (a skill, loaded tools, a stored result, a sub-agent). */
export interface Builtin extends Answered {
  kind: 'builtin';
}

/**
 * Not made. denied: policy refused it; invalid: its arguments did not fit the tool's schema,
 * or the tool's rate limit was reached; in_doubt: an earlier attempt may have acted and
 * recorded nothing, so it is not repeated; rejected: an approver said no (on_reject: continue).
 */
export interface NotMade extends Answered {
  kind: 'denied' | 'invalid' | 'in_doubt' | 'rejected';
}

export type CallOutcome = Executed | Blocked | Builtin | NotMade;
export type OutcomeKind = CallOutcome['kind'];

/** What a turn keeps of a call a script made (and what a side-effect record replays). */
export interface InnerCall {
  kind: OutcomeKind;
  trace: NewTraceEvent;
  called?: boolean;
}

/** A script's calls a run_code outcome carries (none for any other call). */
export function innerOf(outcome: CallOutcome): InnerCall[] {
  return (outcome.kind === 'executed' || outcome.kind === 'blocked' ? outcome.inner : undefined) ?? [];
}

/** What is kept of a script's call once the script has ended. */
export function innerCall(outcome: CallOutcome): InnerCall {
  const called = outcome.kind === 'blocked' ? outcome.called : undefined;
  return { kind: outcome.kind, trace: outcome.trace, ...(called === undefined ? {} : { called }) };
}

/** The parts of a call an outcome answers. */
export type CallRef = Pick<ToolCallBlock, 'id' | 'name'>;

export function resultBlock(call: CallRef, content: string, isError: boolean): ToolResultBlock {
  return { type: 'tool_result', callId: call.id, name: call.name, content, isError };
}

type Extra = { inner?: InnerCall[]; patch?: RunPatch };

/** Only the fields that are there: a stored outcome carries no empty keys. */
const extraOf = (extra: Extra) => ({
  ...(extra.inner ? { inner: extra.inner } : {}),
  ...(extra.patch ? { patch: extra.patch } : {}),
});

export function executed(
  call: CallRef,
  content: string,
  isError: boolean,
  trace: NewTraceEvent,
  extra: Extra = {},
): Executed {
  return { kind: 'executed', result: resultBlock(call, content, isError), trace, ...extraOf(extra) };
}

export function blocked(
  call: CallRef,
  content: string,
  trace: NewTraceEvent,
  called: boolean | undefined,
  extra: Extra = {},
): Blocked {
  const calledField = called === undefined ? {} : { called };
  return { kind: 'blocked', ...calledField, result: resultBlock(call, content, true), trace, ...extraOf(extra) };
}

/**
 * A built-in tool's answer; `isError` when it answered with a failure that is still its own
 * answer (a sub-agent that did not finish).
 */
export function answered(
  call: CallRef,
  content: string,
  trace: NewTraceEvent,
  patch?: RunPatch,
  isError = false,
): Builtin {
  return { kind: 'builtin', result: resultBlock(call, content, isError), trace, ...extraOf({ patch }) };
}

/** A side-effecting call an earlier attempt of the step made and recorded: its result and trace, not called again. */
export function executedBefore(recorded: Pick<Executed, 'result' | 'trace' | 'inner'>): Executed {
  return { kind: 'executed', result: recorded.result, trace: recorded.trace, ...extraOf({ inner: recorded.inner }) };
}

export function notMade(kind: NotMade['kind'], call: CallRef, content: string, trace: NewTraceEvent): NotMade {
  return { kind, result: resultBlock(call, content, true), trace };
}

/** A built-in tool's outcome by kind: `builtin` when it answered, else a refusal, a failure or a block it reports. */
export function builtinOutcome(
  kind: 'builtin' | 'denied' | 'invalid' | 'blocked',
  call: CallRef,
  content: string,
  trace: NewTraceEvent,
  patch?: RunPatch,
): CallOutcome {
  if (kind === 'builtin') return answered(call, content, trace, patch);
  return kind === 'blocked' ? blocked(call, content, trace, undefined) : notMade(kind, call, content, trace);
}

/** A call refused before anything ran: `tool_denied` on the trace, the reason as its result. */
export function refusal(role: Role, call: CallRef, reason: string, at: Date, name = call.name): NotMade {
  const now = at.toISOString();
  const trace: NewTraceEvent = {
    kind: 'tool_denied',
    role,
    name,
    status: 'denied',
    startedAt: now,
    endedAt: now,
    latencyMs: 0,
    callId: call.id,
    detail: reason,
  };
  return notMade('denied', call, reason, trace);
}

/** A call a human rejected (on_reject: continue): not made, and the model reads who rejected it and why. */
export function rejection(role: Role, call: CallRef, reason: string, at: Date): NotMade {
  return { ...refusal(role, call, reason, at), kind: 'rejected' };
}
