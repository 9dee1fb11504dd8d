import { formatUsd } from '../../core/format/usd.ts';
import { runUsage, type RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { plainDetail } from '../../core/format/error-names.ts';
import { eventToolName } from './run-outcome.ts';
import { cut, outputWidth, widthOf, wrap } from './fit.ts';

/** One line per trace event, for a person watching a run in a terminal. */

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text);
const dim = paint(2);
const red = paint(31);
const green = paint(32);
const yellow = paint(33);
const cyan = paint(36);

const KIND_LABEL: Record<TraceEvent['kind'], string> = {
  run_started: 'start',
  model_call: 'model',
  tool_call: 'tool',
  tool_denied: 'denied',
  approval_requested: 'approval',
  approval_decided: 'decided',
  verification: 'verify',
  skill_loaded: 'skill',
  context_compacted: 'compact',
  delegation: 'delegate',
  stop_decided: 'stop',
  run_finished: 'finish',
  run_failed: 'failed',
};

const number = (n: number) => n.toLocaleString('en-US');

const STATUS_LABEL: Record<TraceEvent['status'], [string, (text: string) => string]> = {
  ok: ['ok', green],
  pass: ['PASS', green],
  fail: ['FAIL', red],
  denied: ['DENIED', yellow],
  error: ['ERROR', red],
};

function statusOf(event: TraceEvent): [string, (text: string) => string] {
  return STATUS_LABEL[event.status] ?? ['ERROR', red];
}

/** Column widths of a trace line; the name and tokens columns give way on a narrow terminal. */
const NAME_WIDTH = 34;
const MIN_NAME_WIDTH = 12;
const TOKENS_WIDTH = 22;
/** Narrower than this beside the columns, the detail goes on a line of its own. */
const MIN_DETAIL_WIDTH = 24;
const DETAIL_INDENT = '    ';

/**
 * One trace event in `width` characters (default: the terminal's): kind, name, latency,
 * status, tokens, cost and the detail. On a narrow terminal the tokens column goes first,
 * then the name is shortened (with an ellipsis); the detail takes what is left of the line,
 * cut with an ellipsis, or a line of its own below when too little is left.
 */
export function traceLine(event: TraceEvent, indent = '', width = outputWidth()): string {
  const kind = KIND_LABEL[event.kind];
  const base =
    event.kind === 'model_call' && event.scripted
      ? `${event.name} [scripted]`
      : event.kind === 'tool_call' || event.kind === 'tool_denied'
        ? eventToolName(event)
        : event.name;
  // A call that took more than one try says so: retries are part of what happened.
  const name = event.attempt !== undefined && event.attempt > 1 ? `${base} (attempt ${event.attempt})` : base;
  const latency = `${number(Math.round(event.latencyMs))} ms`.padStart(9);
  const tokens =
    event.inputTokens + event.outputTokens > 0
      ? `${number(event.inputTokens)} in / ${number(event.outputTokens)} out`
      : '';
  const cost = event.costMicros > 0 ? formatUsd(event.costMicros) : '';
  // A sandbox command is shown before what it printed.
  const text = event.sandbox?.command
    ? `$ ${event.sandbox.command} → ${event.detail ?? ''}`
    : event.detail && plainDetail(event.detail);
  const detail = text ? text.replace(/\s+/g, ' ').trim() : '';

  const fixed = (nameWidth: number, withTokens: boolean) =>
    widthOf(indent) + 9 + nameWidth + 1 + 9 + 2 + 7 + (withTokens ? TOKENS_WIDTH + 1 : 0) + 9 + 2;
  const withTokens = fixed(NAME_WIDTH, true) + MIN_DETAIL_WIDTH <= width;
  // A short detail keeps its place on the line; a long one may go below (then the name takes the room).
  const keep = widthOf(detail) <= MIN_DETAIL_WIDTH ? widthOf(detail) : 0;
  const shortBy = fixed(NAME_WIDTH, withTokens) + keep - width;
  const nameWidth = Math.max(MIN_NAME_WIDTH, Math.min(NAME_WIDTH, NAME_WIDTH - shortBy));
  const room = width - fixed(nameWidth, withTokens);
  const [statusText, statusPaint] = statusOf(event);
  const columns = [
    indent,
    cyan(kind.padEnd(8)),
    ' ',
    cut(name, nameWidth).padEnd(nameWidth),
    ' ',
    latency,
    '  ',
    statusPaint(statusText),
    ' '.repeat(7 - statusText.length),
    withTokens ? `${tokens.padEnd(TOKENS_WIDTH)} ` : '',
    cost.padStart(9),
    '  ',
  ].join('');
  if (!detail || room >= MIN_DETAIL_WIDTH || room >= widthOf(detail))
    return `${columns}${detail ? dim(cut(detail, Math.max(room, 1))) : ''}`.trimEnd();
  const under = `${indent}${DETAIL_INDENT}`;
  return `${columns.trimEnd()}\n${under}${dim(cut(detail, Math.max(1, width - widthOf(under))))}`;
}

/** What a summary needs of a run: the stored record and the API's run summary both have it. */
export type RunTotals = Pick<
  RunMeta,
  'stopReason' | 'stopDetail' | 'status' | 'modelCalls' | 'toolCalls' | 'verifyAttempts' | 'usage' | 'checkerUsage'
> &
  Partial<Pick<RunMeta, 'subagentUsage'>>;

/** The stop reason and the run's totals, wrapped to `width` (default: the terminal's). */
export function summaryLine(meta: RunTotals, elapsedMs: number, width = outputWidth()): string {
  const usage = runUsage(meta);
  const reason = meta.stopReason ?? meta.status;
  const good = reason === 'verified' || reason === 'completed';
  const parts = [
    `${meta.modelCalls} model calls`,
    `${meta.toolCalls} tool calls`,
    meta.verifyAttempts > 0 ? `${meta.verifyAttempts} verification${meta.verifyAttempts > 1 ? 's' : ''}` : '',
    `${number(usage.inputTokens + usage.outputTokens)} tokens`,
    `${formatUsd(usage.costMicros)}${meta.checkerUsage.costMicros > 0 ? ` (checker ${formatUsd(meta.checkerUsage.costMicros)})` : ''}${(meta.subagentUsage?.costMicros ?? 0) > 0 ? ` (sub-agents ${formatUsd(meta.subagentUsage!.costMicros)})` : ''}`,
    `${(elapsedMs / 1000).toFixed(1)} s`,
  ].filter(Boolean);
  const head = `■ ${reason}`;
  const [first = '', ...rest] = wrap(
    `${head}${meta.stopDetail ? ` — ${plainDetail(meta.stopDetail)}` : ''}`,
    width,
    '  ',
  );
  const paintHead = good ? green : red;
  return [`${paintHead(head)}${first.slice(head.length)}`, ...rest, ...wrap(parts.join(' · '), width, '  ', '  ')].join(
    '\n',
  );
}
