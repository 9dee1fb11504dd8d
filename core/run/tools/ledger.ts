import type { ToolCallBlock } from '../../definitions/messages.ts';
import type { MemoryPolicy } from '../../definitions/memory.ts';
import { claimTransition, finishTransition, type LedgerItem, type LedgerWrite } from '../../memory/ledger.ts';
import { ledgerNow, writeItem, writeNote } from '../../memory/operations.ts';
import {
  LEDGER_CLAIM_TOOL_NAME,
  LEDGER_DONE_TOOL_NAME,
  LEDGER_LIST_TOOL_NAME,
  LEDGER_NOTE_TOOL_NAME,
} from '../../memory/tool-specs.ts';
import type { MemoryStore } from '../../ports/memory-store.ts';
import type { RunDeps } from '../deps.ts';
import type { StartedRunState } from '../load.ts';
import { blockedReason, recorded, screenValue } from '../screening.ts';
import { builtinTrace, type BuiltinTool } from './builtin.ts';
import { ledgerArgs, type LedgerArgs } from './ledger-args.ts';
import { answered, builtinOutcome, type CallOutcome } from './outcome.ts';

/**
 * The loop-memory tools (docs/loop-memory.md): offered to agents that declare `memory:`,
 * governed like any tool. A checker may list, never write; what is written is screened by
 * the run's guardrails first; every call is a trace event; and a write is recorded once in
 * the side-effect ledger, so a retried step answers it again without writing twice. A
 * ledger write is idempotent by its call id too, so one whose record a crash lost is safe
 * to make again (it finds itself applied).
 */
const offered = (state: StartedRunState) => state.context.view.memory !== undefined;
const call = (deps: RunDeps, state: StartedRunState, toolCall: ToolCallBlock) => ledgerCall(deps, state, toolCall);

export const ledgerListTool: BuiltinTool = { name: LEDGER_LIST_TOOL_NAME, offered, call };
export const ledgerClaimTool: BuiltinTool = { name: LEDGER_CLAIM_TOOL_NAME, offered, call };
export const ledgerDoneTool: BuiltinTool = { name: LEDGER_DONE_TOOL_NAME, offered, call };
export const ledgerNoteTool: BuiltinTool = { name: LEDGER_NOTE_TOOL_NAME, offered, call };

type Status = 'ok' | 'error' | 'denied';
type Verdicts = ReturnType<typeof recorded>;

async function ledgerCall(deps: RunDeps, state: StartedRunState, toolCall: ToolCallBlock): Promise<CallOutcome> {
  const started = deps.clock.now();
  const { view } = state.context;
  const policy = view.memory!;
  const tool = toolCall.name.slice('looprail__'.length);
  const outcome = (
    content: string,
    status: Status,
    kind: 'builtin' | 'denied' | 'invalid' | 'blocked',
    detail: string,
    guardrails?: Verdicts,
  ) => {
    const trace = builtinTrace(deps, state, toolCall, started, { tool, status, detail, guardrails });
    return builtinOutcome(kind, toolCall, content, trace);
  };
  const store = deps.memory;
  if (!store)
    return outcome(`looprail.${tool} failed: this runtime has no memory store`, 'error', 'invalid', 'no memory store');
  const writes = toolCall.name !== LEDGER_LIST_TOOL_NAME;
  if (writes && view.role === 'checker') {
    const refused = `refused: a checker may read the ledger (${LEDGER_LIST_TOOL_NAME}) but never write it; nothing was stored`;
    return outcome(refused, 'denied', 'denied', 'a checker may not write loop memory');
  }
  const parsed = ledgerArgs(toolCall.name, toolCall.arguments, policy);
  if (typeof parsed === 'string') {
    return outcome(`invalid arguments for looprail.${tool}, nothing was stored: ${parsed}`, 'error', 'invalid', parsed);
  }
  // What is written reaches the next run's model: screened like a tool's input, and stored as screened.
  const screened = screenValue(deps, view, parsed, 'tool_input');
  const guardrails = recorded(screened.verdicts);
  if (screened.blocked) {
    const content = `looprail.${tool} stored nothing: its arguments were ${blockedReason(screened.blocked)}`;
    return outcome(content, 'denied', 'blocked', content, guardrails);
  }
  const args = screened.value;
  if (args.tool === 'list') {
    const text = listText(await ledgerNow(store, view.agent, deps.clock.now()), args);
    return outcome(text, 'ok', 'builtin', `${args.state ?? 'all'} items`, guardrails);
  }
  return once(deps, state, toolCall, async () => {
    const done = await write(store, view.agent, policy, args, state.meta.runId, toolCall.id, deps.clock.now());
    const trace = builtinTrace(deps, state, toolCall, started, {
      tool,
      status: done.isError ? 'error' : 'ok',
      detail: done.message.slice(0, 500),
      guardrails,
    });
    return answered(toolCall, done.message, trace, undefined, done.isError);
  });
}

/** The write a claim, done or note call makes, and what the model reads of it. */
async function write(
  store: MemoryStore,
  agent: string,
  policy: MemoryPolicy,
  args: Exclude<LedgerArgs, { tool: 'list' }>,
  runId: string,
  callId: string,
  now: Date,
): Promise<{ message: string; isError: boolean }> {
  if (args.tool === 'note') {
    const note = await writeNote(store, { agent, runId, callId, source: 'tool', text: args.text }, policy, now);
    return { message: `handoff note kept (version ${note.version}); the next run reads it first`, isError: false };
  }
  const stamp: LedgerWrite = { runId, callId, action: args.tool === 'claim' ? 'claim' : 'finish' };
  const result = await writeItem(store, agent, args.id, (found) =>
    args.tool === 'claim'
      ? claimTransition(found, { agent, id: args.id }, stamp, policy, now)
      : finishTransition(found, args.id, { state: args.status, outcome: args.outcome }, stamp, policy, now),
  );
  if (result.kind === 'refused') return { message: `refused, nothing was stored: ${result.reason}`, isError: true };
  return { message: result.message, isError: result.isError === true };
}

/** A write recorded once per call: an earlier attempt's recorded answer is given again, not written again. */
async function once(
  deps: RunDeps,
  state: StartedRunState,
  toolCall: ToolCallBlock,
  make: () => Promise<CallOutcome>,
): Promise<CallOutcome> {
  const { runId } = state.meta;
  const tool = `looprail.${toolCall.name.slice('looprail__'.length)}`;
  const claim = await deps.store.claimSideEffect(runId, toolCall.id, tool, deps.clock.now().toISOString());
  if (claim.state === 'completed') {
    const { result, trace } = claim.recorded;
    return answered(toolCall, result.content, trace, undefined, result.isError);
  }
  // Claimed now, or in doubt: a ledger write finds itself applied when its earlier attempt made it.
  const outcome = await make();
  await deps.store.completeSideEffect(
    runId,
    toolCall.id,
    { result: outcome.result, trace: outcome.trace },
    deps.clock.now().toISOString(),
  );
  return outcome;
}

/** The ledger as the model reads it: one line an item. */
function listText(items: LedgerItem[], filter: { state?: string; ids?: string[] }): string {
  const shown = items.filter(
    (item) => (!filter.state || item.state === filter.state) && (!filter.ids || filter.ids.includes(item.id)),
  );
  if (shown.length === 0) return 'the ledger has no items that match';
  const MAX = 200;
  const lines = shown.slice(0, MAX).map((item) => {
    const who = item.runId ? ` · run ${item.runId}` : '';
    const lease = item.state === 'claimed' ? ` · until ${item.leaseUntil}` : '';
    const outcome = item.outcome ? ` · ${item.outcome}` : '';
    return `- ${item.id}: ${item.state} · ${item.attempts} attempt${item.attempts === 1 ? '' : 's'}${who}${lease}${outcome}`;
  });
  const more = shown.length > MAX ? `\n(${shown.length - MAX} more: filter by state or ids)` : '';
  return `${shown.length} item${shown.length === 1 ? '' : 's'}:\n${lines.join('\n')}${more}`;
}
