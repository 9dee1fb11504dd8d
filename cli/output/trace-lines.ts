import { formatUsd } from '../../core/format/usd.ts';
import { runUsage, type RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { plainDetail } from '../../core/format/error-names.ts';
import { eventToolName } from './run-outcome.ts';

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

function statusMark(event: TraceEvent): string {
  switch (event.status) {
    case 'ok':
      return green('ok');
    case 'pass':
      return green('PASS');
    case 'fail':
      return red('FAIL');
    case 'denied':
      return yellow('DENIED');
    default:
      return red('ERROR');
  }
}

export function traceLine(event: TraceEvent, indent = ''): string {
  const kind = KIND_LABEL[event.kind].padEnd(8);
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
  const detail = text ? dim(text.replace(/\s+/g, ' ').slice(0, 140)) : '';
  return `${indent}${cyan(kind)} ${name.padEnd(34)} ${latency}  ${statusMark(event).padEnd(useColor ? 15 : 6)} ${tokens.padEnd(22)} ${cost.padStart(9)}  ${detail}`.trimEnd();
}

/** What a summary needs of a run: the stored record and the API's run summary both have it. */
export type RunTotals = Pick<
  RunMeta,
  'stopReason' | 'stopDetail' | 'status' | 'modelCalls' | 'toolCalls' | 'verifyAttempts' | 'usage' | 'checkerUsage'
> &
  Partial<Pick<RunMeta, 'subagentUsage'>>;

export function summaryLine(meta: RunTotals, elapsedMs: number): string {
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
  const head = good ? green(`■ ${reason}`) : red(`■ ${reason}`);
  return `${head}${meta.stopDetail ? ` — ${plainDetail(meta.stopDetail)}` : ''}\n  ${parts.join(' · ')}`;
}
