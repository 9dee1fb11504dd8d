import { z } from 'zod';
import { DEFAULT_HARNESS } from '../definitions/agent.ts';
import type { AgentView, ToolSpec } from '../definitions/context.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import { errorMessage } from '../errors.ts';
import type { RunDeps } from './deps.ts';
import { elapsedMs, type StartedRunState } from './load.ts';
import type { CallOutcome } from './tool-step.ts';

/**
 * Large tool results are stored with the run (the ResultStore) and replaced in the
 * conversation by a preview, their size and a handle; looprail__read_result pages,
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
      grep: { type: 'string', minLength: 1, description: 'return the lines containing this text, with their line numbers' },
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
  return view.limits.offload ?? { resultTokens: DEFAULT_HARNESS.offload_result_tokens, turnTokens: DEFAULT_HARNESS.offload_turn_tokens, previewChars: DEFAULT_HARNESS.preview_chars };
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
export async function offloadResult(deps: RunDeps, state: StartedRunState, callId: string, tool: string, text: string): Promise<{ content: string; handle: string; detail: string } | undefined> {
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

/**
 * A turn's parallel results together over the turn threshold: the largest executed results
 * still inline are offloaded until the rest fit. Returns the outcomes, changed where offloaded.
 */
export async function offloadTurn(deps: RunDeps, state: StartedRunState, outcomes: CallOutcome[]): Promise<CallOutcome[]> {
  if (!deps.results) return outcomes;
  const { turnTokens } = offloadLimits(state.context.view);
  let total = outcomes.reduce((sum, outcome) => sum + estimateTokens(outcome.result.content), 0);
  if (total <= turnTokens) return outcomes;
  const candidates = outcomes
    .map((outcome, index) => ({ outcome, index }))
    .filter(({ outcome }) => outcome.kind === 'executed' && !outcome.offloaded && !outcome.result.isError)
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
      offloaded: stored.handle,
      result: { ...outcome.result, content: stored.content },
      trace: { ...outcome.trace, resultHandle: stored.handle, detail: `${stored.detail} (the turn's results together were over ${turnTokens} tokens)` },
    };
  }
  return changed;
}

const ReadResultArguments = z
  .strictObject({
    handle: z.string().min(1, 'expected the handle of a stored result'),
    offset: z.number().int().min(0).optional(),
    limit: z.number().int().min(1).optional(),
    start_line: z.number().int().min(1).optional(),
    end_line: z.number().int().min(1).optional(),
    grep: z.string().min(1).optional(),
  })
  .refine((args) => [args.offset !== undefined || args.limit !== undefined, args.start_line !== undefined || args.end_line !== undefined, args.grep !== undefined].filter(Boolean).length <= 1, {
    message: 'use one mode per call: offset/limit, start_line/end_line, or grep',
  })
  .refine((args) => args.start_line === undefined || args.end_line === undefined || args.end_line >= args.start_line, { message: 'end_line must not be before start_line' });

/** looprail__read_result: a page, a line range or the matching lines of one of this run's stored results. */
export async function readResultCall(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): Promise<CallOutcome> {
  const started = deps.clock.now();
  const { view } = state.context;
  // A page never exceeds the per-call threshold, so reading a result never fills the context again.
  const maxChars = offloadLimits(view).resultTokens * 4;
  const outcome = (content: string, kind: CallOutcome['kind'], detail: string, handle?: string): CallOutcome => {
    const ended = deps.clock.now();
    return {
      kind,
      result: { type: 'tool_result', callId: call.id, name: call.name, content, isError: kind !== 'builtin' },
      trace: {
        kind: 'tool_call',
        role: view.role,
        name: 'looprail.read_result',
        server: 'looprail',
        tool: 'read_result',
        callId: call.id,
        status: kind === 'builtin' ? 'ok' : kind === 'denied' ? 'denied' : 'error',
        startedAt: started.toISOString(),
        endedAt: ended.toISOString(),
        latencyMs: elapsedMs(started, ended),
        resultHandle: handle,
        detail,
      },
    };
  };
  const parsed = ReadResultArguments.safeParse(call.arguments);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`).join('; ');
    return outcome(`invalid arguments for ${READ_RESULT_TOOL_NAME}: ${problems}`, 'invalid', problems);
  }
  const args = parsed.data;
  const target = parseHandle(args.handle);
  if (!target) return outcome(`"${args.handle}" is not a result handle (handles look like <run id>/<call id>, as the stored result's note gives them)`, 'invalid', 'not a handle');
  if (target.runId !== state.meta.runId) {
    return outcome(`refused: handle ${args.handle} belongs to another run; a run reads only its own stored results`, 'denied', `handle of run ${target.runId}`);
  }
  if (!(state.meta.offloadedResults ?? []).includes(args.handle)) {
    return outcome(`this run has no stored result with handle ${args.handle} (its handles: ${(state.meta.offloadedResults ?? []).join(', ') || 'none'})`, 'invalid', 'unknown handle');
  }
  if (!deps.results) return outcome(`the stored result ${args.handle} cannot be read: this runtime has no result store`, 'invalid', 'no result store');
  let lookup;
  try {
    lookup = await deps.results.getResult(target.runId, target.callId);
  } catch (error) {
    return outcome(`the stored result ${args.handle} could not be read: ${errorMessage(error)}`, 'invalid', errorMessage(error));
  }
  if (lookup.state !== 'found') {
    return outcome(
      `the stored result ${args.handle} has expired (results are kept only as long as the run's trace retention) and is no longer available; call the tool again if you still need it`,
      'invalid',
      'expired',
      args.handle,
    );
  }
  const text = lookup.result.text;
  let body: string;
  let detail: string;
  if (args.grep !== undefined) {
    const needle = args.grep.toLowerCase();
    const lines = text.split('\n');
    const hits: string[] = [];
    let size = 0;
    let matched = 0;
    for (const [index, line] of lines.entries()) {
      if (!line.toLowerCase().includes(needle)) continue;
      matched += 1;
      const entry = `${index + 1}: ${line}`;
      if (size + entry.length + 1 > maxChars) continue;
      hits.push(entry);
      size += entry.length + 1;
    }
    body = matched === 0 ? `no line of ${args.handle} contains "${args.grep}"` : `${hits.join('\n')}${hits.length < matched ? `\n[${matched - hits.length} more matching lines not shown: narrow the search]` : ''}`;
    detail = `grep "${args.grep.slice(0, 80)}" in ${args.handle}: ${matched} lines`;
  } else if (args.start_line !== undefined || args.end_line !== undefined) {
    const lines = text.split('\n');
    const from = args.start_line ?? 1;
    const to = Math.min(args.end_line ?? lines.length, lines.length);
    if (from > lines.length) return outcome(`${args.handle} has ${lines.length} lines; start_line ${from} is past its end`, 'invalid', 'start_line past the end', args.handle);
    const slice = lines.slice(from - 1, to).join('\n');
    body = slice.length > maxChars ? `${slice.slice(0, maxChars)}\n[cut at ${maxChars} characters: ask for fewer lines]` : slice;
    detail = `lines ${from}–${to} of ${lines.length} in ${args.handle}`;
  } else {
    const offset = args.offset ?? 0;
    if (offset >= text.length && text.length > 0) return outcome(`${args.handle} has ${text.length} characters; offset ${offset} is past its end`, 'invalid', 'offset past the end', args.handle);
    const limit = Math.min(args.limit ?? maxChars, maxChars);
    const end = Math.min(offset + limit, text.length);
    body = `${text.slice(offset, end)}\n[characters ${offset}–${end} of ${text.length}${end < text.length ? `; continue with offset ${end}` : '; end of result'}]`;
    detail = `characters ${offset}–${end} of ${text.length} in ${args.handle}`;
  }
  return outcome(body, 'builtin', detail, args.handle);
}
