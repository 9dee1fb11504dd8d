import { createHash } from 'node:crypto';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { FinishedRun } from '../../core/ports/telemetry.ts';

/**
 * A finished run as OTLP/JSON spans (the ExportTraceServiceRequest of OTLP/HTTP), hand
 * encoded to keep the SDK out of the Lambda bundle. One trace per run: a root
 * `invoke_agent` span, a span per step (`chat <model>`, `execute_tool <tool>`, …) and, under
 * a verification, the checker run's own span with its steps. Attributes follow the
 * OpenTelemetry GenAI semantic conventions (gen_ai.*) plus looprail.* for what they do not
 * cover (cost, stop reason, step kind). Only ids, names, counts and the trace's short
 * redacted details go out: never messages, tool arguments or results.
 *
 * Ids derive from the run id and step seq, so exporting a run twice gives the same spans.
 */

type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };
export interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 internal, 3 client. */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
}

export interface OtlpTraceRequest {
  resourceSpans: Array<{
    resource: { attributes: KeyValue[] };
    scopeSpans: Array<{ scope: { name: string; version: string }; spans: OtlpSpan[] }>;
  }>;
}

const SPAN_KIND_INTERNAL = 1;
const SPAN_KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_OK = 1;
const STATUS_ERROR = 2;

function hexId(bytes: number, ...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, bytes * 2);
}

export function traceIdOf(runId: string): string {
  return hexId(16, 'trace', runId);
}

function spanIdOf(runId: string, step: string): string {
  return hexId(8, 'span', runId, step);
}

function nanos(iso: string): string {
  return `${BigInt(Date.parse(iso)) * 1_000_000n}`;
}

/** Attributes with their OTLP types; undefined values are left out. */
function attributes(values: Record<string, string | number | boolean | undefined>): KeyValue[] {
  const out: KeyValue[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (typeof value === 'string') out.push({ key, value: { stringValue: value } });
    else if (typeof value === 'boolean') out.push({ key, value: { boolValue: value } });
    else if (Number.isInteger(value)) out.push({ key, value: { intValue: String(value) } });
    else out.push({ key, value: { doubleValue: value } });
  }
  return out;
}

const usdOf = (micros: number) => micros / 1_000_000;

function runSpan(meta: RunMeta, traceId: string, parentSpanId: string | undefined, end: string): OtlpSpan {
  const failed = meta.status === 'failed';
  return {
    traceId,
    spanId: spanIdOf(meta.runId, 'run'),
    ...(parentSpanId ? { parentSpanId } : {}),
    name: `invoke_agent ${meta.subagent ?? meta.agent}`,
    kind: SPAN_KIND_INTERNAL,
    startTimeUnixNano: nanos(meta.startedAt ?? meta.createdAt),
    endTimeUnixNano: nanos(end),
    attributes: attributes({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': meta.subagent ?? meta.agent,
      'gen_ai.conversation.id': meta.runId,
      'gen_ai.usage.input_tokens': meta.usage.inputTokens,
      'gen_ai.usage.output_tokens': meta.usage.outputTokens,
      'looprail.run.id': meta.runId,
      'looprail.agent': meta.agent,
      'looprail.agent.version': meta.agentVersion,
      'looprail.team': meta.team,
      'looprail.role': meta.role,
      'looprail.trigger': meta.trigger.kind,
      'looprail.status': meta.status,
      'looprail.stop_reason': meta.stopReason,
      'looprail.model_calls': meta.modelCalls,
      'looprail.tool_calls': meta.toolCalls,
      'looprail.cost_usd': usdOf(meta.usage.costMicros),
      'looprail.checker_cost_usd': meta.checkerUsage.costMicros > 0 ? usdOf(meta.checkerUsage.costMicros) : undefined,
    }),
    status: failed ? { code: STATUS_ERROR, message: (meta.stopDetail ?? meta.stopReason ?? 'failed').slice(0, 500) } : { code: STATUS_OK },
  };
}

function stepSpan(runId: string, event: TraceEvent, traceId: string, parentSpanId: string): OtlpSpan {
  const model = event.kind === 'model_call';
  const tool = event.kind === 'tool_call' || event.kind === 'tool_denied';
  const operation = model ? 'chat' : tool ? 'execute_tool' : undefined;
  const name = model ? `chat ${event.model ?? event.name}` : tool ? `execute_tool ${event.name}` : `${event.kind} ${event.name}`;
  const error = event.status === 'error';
  return {
    traceId,
    spanId: spanIdOf(runId, String(event.seq)),
    parentSpanId,
    name,
    kind: model || tool ? SPAN_KIND_CLIENT : SPAN_KIND_INTERNAL,
    startTimeUnixNano: nanos(event.startedAt),
    endTimeUnixNano: nanos(event.endedAt),
    attributes: attributes({
      'gen_ai.operation.name': operation,
      // gen_ai.system is the older name of gen_ai.provider.name; both are sent while backends move over.
      'gen_ai.provider.name': model ? event.provider : undefined,
      'gen_ai.system': model ? event.provider : undefined,
      'gen_ai.request.model': model ? (event.model ?? event.name) : undefined,
      'gen_ai.usage.input_tokens': model || event.inputTokens > 0 ? event.inputTokens : undefined,
      'gen_ai.usage.output_tokens': model || event.outputTokens > 0 ? event.outputTokens : undefined,
      'gen_ai.usage.cache_read.input_tokens': event.cachedInputTokens > 0 ? event.cachedInputTokens : undefined,
      'gen_ai.tool.name': tool ? (event.tool ?? event.name) : undefined,
      'gen_ai.tool.call.id': tool ? event.callId : undefined,
      'looprail.run.id': runId,
      'looprail.step.seq': event.seq,
      'looprail.step.kind': event.kind,
      'looprail.step.status': event.status,
      'looprail.role': event.role,
      'looprail.mcp.server': event.server,
      'looprail.attempt': event.attempt,
      'looprail.cost_usd': event.costMicros > 0 ? usdOf(event.costMicros) : undefined,
      'looprail.scripted': event.scripted,
      'looprail.fallback': event.fallback,
      'looprail.stop_reason': event.stopReason,
      'looprail.guardrail.verdicts': event.guardrails?.length,
      'looprail.guardrail.blocked': event.guardrails?.some((verdict) => verdict.action === 'block') || undefined,
    }),
    status: error ? { code: STATUS_ERROR, message: (event.detail ?? 'error').slice(0, 500) } : { code: STATUS_UNSET },
  };
}

function lastEnd(meta: RunMeta, events: TraceEvent[]): string {
  if (meta.endedAt) return meta.endedAt;
  const ends = events.map((event) => event.endedAt).sort();
  return ends.at(-1) ?? meta.startedAt ?? meta.createdAt;
}

/** The run's spans: the run, its steps, and each checker run under the step that started it. */
export function runSpans(run: FinishedRun): OtlpSpan[] {
  const traceId = traceIdOf(run.meta.runId);
  const root = runSpan(run.meta, traceId, undefined, lastEnd(run.meta, run.events));
  const spans = [root];
  const children = new Map(run.children.map((child) => [child.meta.runId, child]));
  for (const event of run.events) {
    const step = stepSpan(run.meta.runId, event, traceId, root.spanId);
    spans.push(step);
    const child = event.childRunId ? children.get(event.childRunId) : undefined;
    if (!child) continue;
    const childRoot = runSpan(child.meta, traceId, step.spanId, lastEnd(child.meta, child.events));
    spans.push(childRoot, ...child.events.map((childEvent) => stepSpan(child.meta.runId, childEvent, traceId, childRoot.spanId)));
  }
  return spans;
}

export function otlpRequest(run: FinishedRun, serviceName: string, version: string): OtlpTraceRequest {
  return {
    resourceSpans: [
      {
        resource: { attributes: attributes({ 'service.name': serviceName, 'telemetry.sdk.name': 'looprail', 'telemetry.sdk.language': 'nodejs' }) },
        scopeSpans: [{ scope: { name: 'looprail', version }, spans: runSpans(run) }],
      },
    ],
  };
}
