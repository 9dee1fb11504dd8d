import { DEFAULT_HARNESS } from '../definitions/harness.ts';
import type { AgentView, ToolSpec } from '../definitions/context.ts';
import type { RunDeps } from './deps.ts';
import type { StartedRunState } from './load.ts';
import type { CallOutcome } from './tools/outcome.ts';

/**
 * Large tool results are stored with the run (the ResultStore) and replaced in the
 * conversation by a preview, their size and a handle; looprail__read_result (tools/read-result.ts) pages,
 * slices or searches them. The stored text is the screened one (what the model would
 * have read), and the call's trace event names the handle, so nothing is lost.
 */

export const READ_RESULT_TOOL_NAME = 'looprail__read_result';

/** Offered from the first offloaded result on, so runs that never offload never pay for its schema. */
export const READ_RESULT_TOOL: ToolSpec = {
  name: READ_RESULT_TOOL_NAME,
  server: 'looprail',
  tool: 'read_result',
  description:
    'Read a stored tool result by its handle: a page of characters (offset, limit), a range of lines (start_line, end_line), or the lines containing a text (grep, case-insensitive). Use one mode per call.',
  inputSchema: {
    type: 'object',
    properties: {
      handle: { type: 'string', description: 'the handle the offloaded result gave' },
      offset: { type: 'integer', minimum: 0, description: 'first character to read (default 0)' },
      limit: { type: 'integer', minimum: 1, description: 'characters to read' },
      start_line: { type: 'integer', minimum: 1, description: 'first line to read (1-based)' },
      end_line: { type: 'integer', minimum: 1, description: 'last line to read (inclusive)' },
      grep: {
        type: 'string',
        minLength: 1,
        description: 'return the lines containing this text, with their line numbers',
      },
    },
    required: ['handle'],
    additionalProperties: false,
  },
  readOnly: true,
  destructive: false,
  requiresApproval: false,
  builtin: true,
};

/** A deterministic estimate (about four characters a token) for thresholds; billing uses the provider's counts. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function offloadLimits(view: AgentView): { resultTokens: number; turnTokens: number; previewChars: number } {
  return (
    view.limits.offload ?? {
      resultTokens: DEFAULT_HARNESS.offload_result_tokens,
      turnTokens: DEFAULT_HARNESS.offload_turn_tokens,
      previewChars: DEFAULT_HARNESS.preview_chars,
    }
  );
}

/** The handle names its run, so a handle from another run is recognised and refused. */
export function resultHandle(runId: string, callId: string): string {
  return `${runId}/${encodeURIComponent(callId)}`;
}

export function parseHandle(handle: string): { runId: string; callId: string } | undefined {
  const at = handle.lastIndexOf('/');
  if (at <= 0 || at === handle.length - 1) return undefined;
  try {
    return { runId: handle.slice(0, at), callId: decodeURIComponent(handle.slice(at + 1)) };
  } catch {
    return undefined;
  }
}

function lineCount(text: string): number {
  return text.length === 0 ? 0 : text.split('\n').length;
}

export function previewOf(text: string, handle: string, previewChars: number): string {
  const head = text.slice(0, previewChars);
  return (
    `${head}${text.length > previewChars ? '\n…' : ''}\n` +
    `[result stored, not shown in full: ${text.length} characters, ~${estimateTokens(text)} tokens, ${lineCount(text)} lines. ` +
    `handle: ${handle} — read it with ${READ_RESULT_TOOL_NAME} (offset/limit, start_line/end_line, or grep)]`
  );
}

/**
 * Stores one result and returns what the conversation shows instead, or undefined when the
 * runtime has no result store (the caller then cuts the result as before).
 */
export async function offloadResult(
  deps: RunDeps,
  state: StartedRunState,
  callId: string,
  tool: string,
  text: string,
): Promise<{ content: string; handle: string; detail: string } | undefined> {
  if (!deps.results) return undefined;
  await deps.results.putResult(state.meta.runId, callId, { tool, text, createdAt: deps.clock.now().toISOString() });
  const handle = resultHandle(state.meta.runId, callId);
  return {
    content: previewOf(text, handle, offloadLimits(state.context.view).previewChars),
    handle,
    detail: `result offloaded: ${text.length} characters (~${estimateTokens(text)} tokens) stored as ${handle}`,
  };
}

/** Whether one call's result is over the per-call threshold. */
export function overCallThreshold(view: AgentView, text: string): boolean {
  return estimateTokens(text) > offloadLimits(view).resultTokens;
}

/** Whether offloadTurn will store any of these results (and so write before the step commits). */
export function turnOverThreshold(deps: RunDeps, state: StartedRunState, outcomes: CallOutcome[]): boolean {
  return deps.results !== undefined && turnTokensOf(outcomes) > offloadLimits(state.context.view).turnTokens;
}

function turnTokensOf(outcomes: CallOutcome[]): number {
  return outcomes.reduce((sum, outcome) => sum + estimateTokens(outcome.result.content), 0);
}

/**
 * A turn's parallel results together over the turn threshold: the largest executed results
 * still inline are offloaded until the rest fit. Returns the outcomes, changed where offloaded.
 */
export async function offloadTurn(
  deps: RunDeps,
  state: StartedRunState,
  outcomes: CallOutcome[],
): Promise<CallOutcome[]> {
  if (!turnOverThreshold(deps, state, outcomes)) return outcomes;
  const { turnTokens } = offloadLimits(state.context.view);
  let total = turnTokensOf(outcomes);
  const candidates = outcomes
    .map((outcome, index) => ({ outcome, index }))
    .filter(({ outcome }) => outcome.kind === 'executed' && !outcome.patch?.offloadedResults && !outcome.result.isError)
    .sort((a, b) => b.outcome.result.content.length - a.outcome.result.content.length || a.index - b.index);
  const changed = [...outcomes];
  for (const { outcome, index } of candidates) {
    if (total <= turnTokens) break;
    const text = outcome.result.content;
    const stored = await offloadResult(deps, state, outcome.result.callId, outcome.trace.name, text);
    if (!stored) break;
    total += estimateTokens(stored.content) - estimateTokens(text);
    changed[index] = {
      ...outcome,
      result: { ...outcome.result, content: stored.content },
      trace: {
        ...outcome.trace,
        resultHandle: stored.handle,
        detail: `${stored.detail} (the turn's results together were over ${turnTokens} tokens)`,
      },
      patch: { ...outcome.patch, offloadedResults: [stored.handle] },
    };
  }
  return changed;
}
