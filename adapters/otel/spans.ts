import { createHash } from 'node:crypto';
import type { Attributes, HrTime, SpanStatus } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { FinishedRun } from '../../core/ports/telemetry.ts';

/**
 * A finished run as OpenTelemetry spans, for the SDK's OTLP exporter to encode and send.
 * One trace per run: a root `invoke_agent` span, a span per step (`chat <model>`,
 * `execute_tool <tool>`, …) and, under a verification, the checker run's own span with its
 * steps. The spans are built whole from the stored run (no tracer: the run happened in
 * earlier Lambda invocations). Attributes follow the OpenTelemetry GenAI semantic
 * conventions (gen_ai.*) plus looprail.* for what they do not cover (cost, stop reason,
 * step kind). Only ids, names, counts and the trace's short redacted details go out:
 * never messages, tool arguments or results.
 *
 * Ids derive from the run id and step seq, so exporting a run twice gives the same spans.
 */

/** What the exporter takes: the SDK's ReadableSpan, without naming the SDK package. */
export type RunSpan = Parameters<OTLPTraceExporter['export']>[0][number];

/** The run's resource and instrumentation scope, shared by every span of one export. */
interface Origin {
  resource: Resource;
  scope: { name: string; version: string };
}

function hexId(bytes: number, ...parts: string[]): string {
  return createHash('sha256')
    .update(parts.join('\u0000'))
    .digest('hex')
    .slice(0, bytes * 2);
}

export function traceIdOf(runId: string): string {
  return hexId(16, 'trace', runId);
}

function spanIdOf(runId: string, step: string): string {
  return hexId(8, 'span', runId, step);
}

function hrTime(iso: string): HrTime {
  const ms = Date.parse(iso);
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}

/** Undefined values are left out. */
function attributes(values: Record<string, string | number | boolean | undefined>): Attributes {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

interface SpanInput {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  start: string;
  end: string;
  attributes: Attributes;
  status: SpanStatus;
}

function readableSpan(input: SpanInput, origin: Origin): RunSpan {
  const context = { traceId: input.traceId, spanId: input.spanId, traceFlags: TraceFlags.SAMPLED };
  const parent = input.parentSpanId ? { ...context, spanId: input.parentSpanId } : undefined;
  const startTime = hrTime(input.start);
  const endTime = hrTime(input.end);
  const durationMs = Math.max(0, Date.parse(input.end) - Date.parse(input.start));
  return {
    name: input.name,
    kind: input.kind,
    spanContext: () => context,
    ...(parent ? { parentSpanContext: parent } : {}),
    startTime,
    endTime,
    duration: [Math.floor(durationMs / 1000), (durationMs % 1000) * 1_000_000],
    status: input.status,
    attributes: input.attributes,
    links: [],
    events: [],
    ended: true,
    resource: origin.resource,
    instrumentationScope: origin.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

const usdOf = (micros: number) => micros / 1_000_000;

function runSpan(meta: RunMeta, traceId: string, parentSpanId: string | undefined, end: string): SpanInput {
  const failed = meta.status === 'failed';
  return {
    traceId,
    spanId: spanIdOf(meta.runId, 'run'),
    ...(parentSpanId ? { parentSpanId } : {}),
    name: `invoke_agent ${meta.subagent ?? meta.agent}`,
    kind: SpanKind.INTERNAL,
    start: meta.startedAt ?? meta.createdAt,
    end,
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
    status: failed
      ? { code: SpanStatusCode.ERROR, message: (meta.stopDetail ?? meta.stopReason ?? 'failed').slice(0, 500) }
      : { code: SpanStatusCode.OK },
  };
}

function stepSpan(runId: string, event: TraceEvent, traceId: string, parentSpanId: string): SpanInput {
  const model = event.kind === 'model_call';
  const tool = event.kind === 'tool_call' || event.kind === 'tool_denied';
  const operation = model ? 'chat' : tool ? 'execute_tool' : undefined;
  const name = model
    ? `chat ${event.model ?? event.name}`
    : tool
      ? `execute_tool ${event.name}`
      : `${event.kind} ${event.name}`;
  const error = event.status === 'error';
  return {
    traceId,
    spanId: spanIdOf(runId, String(event.seq)),
    parentSpanId,
    name,
    kind: model || tool ? SpanKind.CLIENT : SpanKind.INTERNAL,
    start: event.startedAt,
    end: event.endedAt,
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
    status: error
      ? { code: SpanStatusCode.ERROR, message: (event.detail ?? 'error').slice(0, 500) }
      : { code: SpanStatusCode.UNSET },
  };
}

function lastEnd(meta: RunMeta, events: TraceEvent[]): string {
  if (meta.endedAt) return meta.endedAt;
  const ends = events.map((event) => event.endedAt).sort();
  return ends.at(-1) ?? meta.startedAt ?? meta.createdAt;
}

/** The run's spans: the run, its steps, and each checker run under the step that started it. */
export function runSpans(run: FinishedRun, serviceName: string, version: string): RunSpan[] {
  const origin: Origin = {
    resource: resourceFromAttributes({
      'service.name': serviceName,
      'telemetry.sdk.name': 'looprail',
      'telemetry.sdk.language': 'nodejs',
    }),
    scope: { name: 'looprail', version },
  };
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
    spans.push(
      childRoot,
      ...child.events.map((childEvent) => stepSpan(child.meta.runId, childEvent, traceId, childRoot.spanId)),
    );
  }
  return spans.map((span) => readableSpan(span, origin));
}
