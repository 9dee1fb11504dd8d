import type { ToolCallBlock } from '../../definitions/messages.ts';
import * as z from '../../definitions/zod.ts';
import { errorMessage } from '../../errors.ts';
import type { RunDeps } from '../deps.ts';
import type { StartedRunState } from '../load.ts';
import { offloadLimits, parseHandle, READ_RESULT_TOOL_NAME } from '../offload.ts';
import { builtinTrace, inSnapshot, type BuiltinTool } from './builtin.ts';
import { builtinOutcome, type CallOutcome } from './outcome.ts';

const ReadResultArguments = z
  .strictObject({
    handle: z.string().check(z.minLength(1, 'expected the handle of a stored result')),
    offset: z.optional(z.number().check(z.int(), z.minimum(0))),
    limit: z.optional(z.number().check(z.int(), z.minimum(1))),
    start_line: z.optional(z.number().check(z.int(), z.minimum(1))),
    end_line: z.optional(z.number().check(z.int(), z.minimum(1))),
    grep: z.optional(z.string().check(z.minLength(1))),
  })
  .check(
    z.refine((args) => modesOf(args).filter(Boolean).length <= 1, {
      message: 'use one mode per call: offset/limit, start_line/end_line, or grep',
    }),
    z.refine(
      (args) => args.start_line === undefined || args.end_line === undefined || args.end_line >= args.start_line,
      {
        message: 'end_line must not be before start_line',
      },
    ),
  );
type ReadResultArguments = z.infer<typeof ReadResultArguments>;

type Modes = { offset?: number; limit?: number; start_line?: number; end_line?: number; grep?: string };

function modesOf(args: Modes): boolean[] {
  const page = args.offset !== undefined || args.limit !== undefined;
  const lines = args.start_line !== undefined || args.end_line !== undefined;
  return [page, lines, args.grep !== undefined];
}

/** looprail__read_result: offered from the run's first offloaded result on, even before the snapshot lists it. */
export const readResultTool: BuiltinTool = {
  name: READ_RESULT_TOOL_NAME,
  offered: (state) => inSnapshot(READ_RESULT_TOOL_NAME)(state) || (state.meta.offloadedResults ?? []).length > 0,
  call: (deps, state, call) => readResultCall(deps, state, call),
};

/** A page, a line range or the matching lines of one of this run's stored results. */
export async function readResultCall(deps: RunDeps, state: StartedRunState, call: ToolCallBlock): Promise<CallOutcome> {
  const started = deps.clock.now();
  // A page never exceeds the per-call threshold, so reading a result never fills the context again.
  const maxChars = offloadLimits(state.context.view).resultTokens * 4;
  type Kind = 'builtin' | 'denied' | 'invalid';
  const outcome = (content: string, kind: Kind, detail: string, handle?: string): CallOutcome => {
    const status = kind === 'builtin' ? 'ok' : kind === 'denied' ? 'denied' : 'error';
    const fields = { tool: 'read_result', status, resultHandle: handle, detail } as const;
    const trace = builtinTrace(deps, state, call, started, fields);
    return builtinOutcome(kind, call, content, trace);
  };
  const parsed = ReadResultArguments.safeParse(call.arguments);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`)
      .join('; ');
    return outcome(`invalid arguments for ${READ_RESULT_TOOL_NAME}: ${problems}`, 'invalid', problems);
  }
  const args = parsed.data;
  const target = parseHandle(args.handle);
  if (!target) {
    const shape = "handles look like <run id>/<call id>, as the stored result's note gives them";
    return outcome(`"${args.handle}" is not a result handle (${shape})`, 'invalid', 'not a handle');
  }
  if (target.runId !== state.meta.runId) {
    const refused = `refused: handle ${args.handle} belongs to another run; a run reads only its own stored results`;
    return outcome(refused, 'denied', `handle of run ${target.runId}`);
  }
  const handles = state.meta.offloadedResults ?? [];
  if (!handles.includes(args.handle)) {
    const known = handles.join(', ') || 'none';
    const unknown = `this run has no stored result with handle ${args.handle} (its handles: ${known})`;
    return outcome(unknown, 'invalid', 'unknown handle');
  }
  if (!deps.results) {
    const missing = `the stored result ${args.handle} cannot be read: this runtime has no result store`;
    return outcome(missing, 'invalid', 'no result store');
  }
  let lookup;
  try {
    lookup = await deps.results.getResult(target.runId, target.callId);
  } catch (error) {
    const reason = errorMessage(error);
    return outcome(`the stored result ${args.handle} could not be read: ${reason}`, 'invalid', reason);
  }
  if (lookup.state !== 'found') {
    const expired =
      `the stored result ${args.handle} has expired (results are kept only as long as the run's trace retention) ` +
      'and is no longer available; call the tool again if you still need it';
    return outcome(expired, 'invalid', 'expired', args.handle);
  }
  const read = readSlice(lookup.result.text, args, maxChars);
  if ('error' in read) return outcome(read.error, 'invalid', read.detail, args.handle);
  return outcome(read.body, 'builtin', read.detail, args.handle);
}

type Slice = { body: string; detail: string } | { error: string; detail: string };

/** One mode per call: the lines containing a text, a range of lines, or a page of characters. */
function readSlice(text: string, args: ReadResultArguments, maxChars: number): Slice {
  if (args.grep !== undefined) return grepLines(text, args.handle, args.grep, maxChars);
  if (args.start_line !== undefined || args.end_line !== undefined) {
    const lines = text.split('\n');
    const from = args.start_line ?? 1;
    const to = Math.min(args.end_line ?? lines.length, lines.length);
    if (from > lines.length) {
      const error = `${args.handle} has ${lines.length} lines; start_line ${from} is past its end`;
      return { error, detail: 'start_line past the end' };
    }
    const slice = lines.slice(from - 1, to).join('\n');
    const cut = `${slice.slice(0, maxChars)}\n[cut at ${maxChars} characters: ask for fewer lines]`;
    const body = slice.length > maxChars ? cut : slice;
    return { body, detail: `lines ${from}–${to} of ${lines.length} in ${args.handle}` };
  }
  const offset = args.offset ?? 0;
  if (offset >= text.length && text.length > 0) {
    const error = `${args.handle} has ${text.length} characters; offset ${offset} is past its end`;
    return { error, detail: 'offset past the end' };
  }
  const limit = Math.min(args.limit ?? maxChars, maxChars);
  const end = Math.min(offset + limit, text.length);
  const next = end < text.length ? `; continue with offset ${end}` : '; end of result';
  const body = `${text.slice(offset, end)}\n[characters ${offset}–${end} of ${text.length}${next}]`;
  return { body, detail: `characters ${offset}–${end} of ${text.length} in ${args.handle}` };
}

function grepLines(text: string, handle: string, grep: string, maxChars: number): Slice {
  const needle = grep.toLowerCase();
  const hits: string[] = [];
  let size = 0;
  let matched = 0;
  for (const [index, line] of text.split('\n').entries()) {
    if (!line.toLowerCase().includes(needle)) continue;
    matched += 1;
    const entry = `${index + 1}: ${line}`;
    if (size + entry.length + 1 > maxChars) continue;
    hits.push(entry);
    size += entry.length + 1;
  }
  const hidden = matched - hits.length;
  const more = hidden > 0 ? `\n[${hidden} more matching lines not shown: narrow the search]` : '';
  const body = matched === 0 ? `no line of ${handle} contains "${grep}"` : `${hits.join('\n')}${more}`;
  return { body, detail: `grep "${grep.slice(0, 80)}" in ${handle}: ${matched} lines` };
}
