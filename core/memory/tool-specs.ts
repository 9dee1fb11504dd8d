import type { ToolSpec } from '../definitions/context.ts';
import { FINISHED_STATES, LEDGER_STATES } from './ledger.ts';

/** looprail's loop-memory tools (docs/loop-memory.md), offered to agents that declare `memory:`. */
export const LEDGER_LIST_TOOL_NAME = 'looprail__ledger_list';
export const LEDGER_CLAIM_TOOL_NAME = 'looprail__ledger_claim';
export const LEDGER_DONE_TOOL_NAME = 'looprail__ledger_done';
export const LEDGER_NOTE_TOOL_NAME = 'looprail__ledger_note';

/** The ones that write: a checker never gets them, and each is recorded once across step retries. */
export const LEDGER_WRITE_TOOL_NAMES: readonly string[] = [
  LEDGER_CLAIM_TOOL_NAME,
  LEDGER_DONE_TOOL_NAME,
  LEDGER_NOTE_TOOL_NAME,
];

function spec(name: string, description: string, inputSchema: Record<string, unknown>, readOnly: boolean): ToolSpec {
  return {
    name,
    server: 'looprail',
    tool: name.slice('looprail__'.length),
    description,
    inputSchema: { type: 'object', additionalProperties: false, ...inputSchema },
    readOnly,
    destructive: false,
    requiresApproval: false,
    builtin: true,
  };
}

export const LEDGER_TOOLS: readonly ToolSpec[] = [
  spec(
    LEDGER_LIST_TOOL_NAME,
    "List this loop's work ledger (items earlier runs and this one claimed, with their state, attempts, run and outcome). Filter by state or by ids.",
    {
      properties: {
        state: { type: 'string', enum: [...LEDGER_STATES], description: 'only items in this state' },
        ids: { type: 'array', items: { type: 'string' }, description: 'only these item ids' },
      },
    },
    true,
  ),
  spec(
    LEDGER_CLAIM_TOOL_NAME,
    'Claim one item of work by its own id (a CI job and date, an issue number) before working on it: refused when another run holds it or it is done. An id the ledger does not know yet is added.',
    { properties: { id: { type: 'string', description: "the item's own id" } }, required: ['id'] },
    false,
  ),
  spec(
    LEDGER_DONE_TOOL_NAME,
    'Report an item this run claimed: done, failed (a later run may retry it) or needs_human, with a short outcome.',
    {
      properties: {
        id: { type: 'string', description: "the item's id, as claimed" },
        status: { type: 'string', enum: [...FINISHED_STATES], description: 'done, failed or needs_human' },
        outcome: { type: 'string', description: 'one or two lines: what was done, or why not' },
      },
      required: ['id', 'status', 'outcome'],
    },
    false,
  ),
  spec(
    LEDGER_NOTE_TOOL_NAME,
    'Leave the handoff note for the next run: what this run did and what is next. The next run reads the newest note before its task.',
    { properties: { text: { type: 'string', description: 'the note' } }, required: ['text'] },
    false,
  ),
];

/** The memory section of the system prompt: how the loop keeps its work across runs. */
export const MEMORY_PROMPT = `# Loop memory\n\nThis loop keeps a work ledger and a handoff note across runs. Before working on an item, claim it with ${LEDGER_CLAIM_TOOL_NAME} (skip items that are done or held by another run: ${LEDGER_LIST_TOOL_NAME} shows them); when through with it, report it with ${LEDGER_DONE_TOOL_NAME}. Before you finish, leave a short note for the next run with ${LEDGER_NOTE_TOOL_NAME}: what you did and what is next.`;
