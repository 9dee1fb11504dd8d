import type { MemoryPolicy } from '../../definitions/memory.ts';
import {
  FINISHED_STATES,
  itemIdProblem,
  LEDGER_STATES,
  type FinishedState,
  type LedgerState,
} from '../../memory/ledger.ts';
import { noteProblem } from '../../memory/notes.ts';
import {
  LEDGER_CLAIM_TOOL_NAME,
  LEDGER_DONE_TOOL_NAME,
  LEDGER_LIST_TOOL_NAME,
  LEDGER_NOTE_TOOL_NAME,
} from '../../memory/tool-specs.ts';

/** One loop-memory call's arguments, checked against the agent's memory limits. */
export type LedgerArgs =
  | { tool: 'list'; state?: LedgerState; ids?: string[] }
  | { tool: 'claim'; id: string }
  | { tool: 'done'; id: string; status: FinishedState; outcome: string }
  | { tool: 'note'; text: string };

const TOOL_OF: Record<string, LedgerArgs['tool']> = {
  [LEDGER_LIST_TOOL_NAME]: 'list',
  [LEDGER_CLAIM_TOOL_NAME]: 'claim',
  [LEDGER_DONE_TOOL_NAME]: 'done',
  [LEDGER_NOTE_TOOL_NAME]: 'note',
};

/** The call's arguments, or what is wrong with them (the model reads it; nothing is stored). */
export function ledgerArgs(name: string, args: Record<string, unknown>, policy: MemoryPolicy): LedgerArgs | string {
  const tool = TOOL_OF[name];
  if (tool === 'list') return listArgs(args);
  if (tool === 'note') return noteProblem(args.text, policy) ?? { tool, text: args.text as string };
  const idProblem = itemIdProblem(args.id, policy);
  if (idProblem) return idProblem;
  const id = args.id as string;
  if (tool === 'claim') return { tool, id };
  if (!(FINISHED_STATES as readonly unknown[]).includes(args.status)) {
    return `expected "status": one of ${FINISHED_STATES.join(', ')}`;
  }
  if (typeof args.outcome !== 'string' || args.outcome.trim() === '') {
    return 'expected "outcome": a line or two on what was done, or why not';
  }
  if (args.outcome.length > policy.outcomeMaxChars) {
    return `the outcome is ${args.outcome.length} characters; at most ${policy.outcomeMaxChars}: keep it to a line or two`;
  }
  return { tool: 'done', id, status: args.status as FinishedState, outcome: args.outcome };
}

function listArgs(args: Record<string, unknown>): LedgerArgs | string {
  if (args.state !== undefined && !(LEDGER_STATES as readonly unknown[]).includes(args.state)) {
    return `expected "state": one of ${LEDGER_STATES.join(', ')}`;
  }
  const ids = args.ids;
  if (ids !== undefined && !(Array.isArray(ids) && ids.every((id) => typeof id === 'string'))) {
    return 'expected "ids": a list of item ids';
  }
  return { tool: 'list', state: args.state as LedgerState | undefined, ids: ids as string[] | undefined };
}
