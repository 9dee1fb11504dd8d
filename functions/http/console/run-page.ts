import type { Message } from '../../../core/definitions/messages.ts';
import { runUsage, type RunMeta } from '../../../core/definitions/run.ts';
import type { TraceEvent } from '../../../core/definitions/trace.ts';
import * as z from '../../../core/definitions/zod.ts';
import { NotFoundError } from '../../../core/errors.ts';
import type { RunStore } from '../../../core/ports/run-store.ts';
import { parseQuery } from '../router.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';
import { html, type Html } from '../../../core/format/html.ts';
import { formatUsd } from '../../../core/format/usd.ts';
import { plainDetail } from '../../../core/format/error-names.ts';
import { peopleToolName, readableToolName } from '../../../core/definitions/context.ts';
import { count, href, htmlPage, ms } from './html.ts';
import { redactForDisplay } from './redact.ts';

/**
 * One run: its record, a waterfall of its steps (a page at a time, so a run of thousands
 * of steps loads as fast as a short one), the checker runs nested under their
 * verification, and the conversation with tool arguments and results, redacted.
 */

export const TRACE_PAGE_SIZE = 200;
export const MESSAGE_PAGE_SIZE = 100;

const Seq = z.pipe(
  z.transform((value) => (value === '' ? undefined : value)),
  z.optional(z.coerce.number().check(z.int(), z.minimum(0))),
);
export const RunPageQuery = z.strictObject({ after: Seq, messagesAfter: Seq });

export async function runPage(store: RunStore, request: HttpRequest, runId: string): Promise<HttpResponse> {
  const query = parseQuery(request, RunPageQuery);
  const meta = await store.getRun(runId);
  if (!meta) throw new NotFoundError(`run ${runId} does not exist (or its retention has passed)`);
  const [trace, conversation] = await Promise.all([
    store.listTracePage(runId, { afterSeq: query.after, limit: TRACE_PAGE_SIZE }),
    store.listMessagesPage(runId, { afterSeq: query.messagesAfter, limit: MESSAGE_PAGE_SIZE }),
  ]);
  const childIds = [...new Set(trace.events.flatMap((event) => (event.childRunId ? [event.childRunId] : [])))];
  const children = new Map(await Promise.all(childIds.map(async (id) => [id, await childSteps(store, id)] as const)));
  const calls = toolCallsOf(conversation.messages.map((entry) => entry.message));
  const self = `/console/runs/${encodeURIComponent(runId)}`;
  const body = html`<h1>Run <code>${meta.runId}</code></h1>
${summary(meta)}
<h2 id="steps">Steps</h2>
<p class="muted">Steps ${trace.events.length > 0 ? `${trace.events[0]!.seq} to ${trace.events.at(-1)!.seq}` : 'none'} of ${count(meta.traceCount)}; bars are placed on this page's time span.</p>
${trace.events.length === 0 ? html`<p class="muted">No steps ${query.after === undefined ? 'recorded yet' : 'after this point'}.</p>` : waterfall(trace.events, children, calls)}
<div class="pager">${query.after !== undefined ? html`<a href="${href(self, { messagesAfter: query.messagesAfter })}#steps">First steps</a>` : ''}${trace.nextAfterSeq !== undefined ? html`<a href="${href(self, { after: trace.nextAfterSeq, messagesAfter: query.messagesAfter })}#steps" rel="next">Next ${TRACE_PAGE_SIZE} steps</a>` : ''}</div>
<h2 id="conversation">Conversation</h2>
${conversation.messages.length === 0 ? html`<p class="muted">No messages ${query.messagesAfter === undefined ? 'yet' : 'after this point'}.</p>` : conversation.messages.map(({ seq, message }) => messageBlock(seq, message))}
<div class="pager">${query.messagesAfter !== undefined ? html`<a href="${href(self, { after: query.after })}#conversation">First messages</a>` : ''}${conversation.nextAfterSeq !== undefined ? html`<a href="${href(self, { after: query.after, messagesAfter: conversation.nextAfterSeq })}#conversation">Next ${MESSAGE_PAGE_SIZE} messages</a>` : ''}</div>`;
  return htmlPage(200, `Run ${meta.runId}`, '/console/runs', body);
}

/** A nested run's steps and its own calls: call ids restart in every run, so a checker's `call-0-0` is not its maker's. */
interface ChildSteps {
  events: TraceEvent[];
  calls: Map<string, CallText>;
}

async function childSteps(store: RunStore, runId: string): Promise<ChildSteps> {
  const [trace, conversation] = await Promise.all([
    store.listTracePage(runId, { limit: TRACE_PAGE_SIZE }),
    store.listMessagesPage(runId, { limit: MESSAGE_PAGE_SIZE }),
  ]);
  return { events: trace.events, calls: toolCallsOf(conversation.messages.map((entry) => entry.message)) };
}

function summary(meta: RunMeta): Html {
  const usage = runUsage(meta);
  const outcome = meta.stopReason ?? meta.status;
  return html`<dl class="facts">
<dt>Agent</dt><dd>${meta.agent}${meta.subagent ? ` · sub-agent ${meta.subagent}` : ''}${meta.agentVersion ? ` · ${meta.agentVersion}` : ''}</dd>
${meta.parentRunId ? html`<dt>Parent run</dt><dd><a href="/console/runs/${encodeURIComponent(meta.parentRunId)}">${meta.parentRunId}</a></dd>` : ''}
<dt>Outcome</dt><dd><strong class="${outcome}">${outcome}</strong>${meta.stopDetail ? html` — ${redactForDisplay(plainDetail(meta.stopDetail))}` : ''}</dd>
${meta.pendingApprovalId ? html`<dt>Waiting for</dt><dd><a href="/approvals/${encodeURIComponent(meta.pendingApprovalId)}">approval ${meta.pendingApprovalId}</a></dd>` : ''}
<dt>Trigger</dt><dd>${meta.trigger.kind}${meta.trigger.detail ? ` · ${meta.trigger.detail}` : ''} · principal ${meta.principal}</dd>
<dt>Time</dt><dd>created ${meta.createdAt}${meta.startedAt ? ` · started ${meta.startedAt}` : ''}${meta.endedAt ? ` · ended ${meta.endedAt} (${ms(Date.parse(meta.endedAt) - Date.parse(meta.startedAt ?? meta.createdAt))})` : ''}</dd>
<dt>Work</dt><dd>${count(meta.modelCalls)} model calls · ${count(meta.toolCalls)} tool calls · ${count(meta.verifyAttempts)} verifications</dd>
<dt>Spend</dt><dd>${count(usage.inputTokens)} tokens in · ${count(usage.outputTokens)} out · ${formatUsd(usage.costMicros)}${meta.checkerUsage.costMicros > 0 ? ` (checker ${formatUsd(meta.checkerUsage.costMicros)})` : ''}</dd>
</dl>`;
}

interface CallText {
  arguments?: string;
  result?: string;
  isError?: boolean;
}

/** Tool arguments and results by call id, from the messages on this page. */
function toolCallsOf(messages: Message[]): Map<string, CallText> {
  const calls = new Map<string, CallText>();
  for (const message of messages) {
    for (const block of message.content) {
      if (block.type === 'tool_call')
        calls.set(block.id, { ...calls.get(block.id), arguments: JSON.stringify(block.arguments, null, 2) });
      if (block.type === 'tool_result')
        calls.set(block.callId, { ...calls.get(block.callId), result: block.content, isError: block.isError });
    }
  }
  return calls;
}

function waterfall(events: TraceEvent[], children: Map<string, ChildSteps>, calls: Map<string, CallText>): Html {
  const all = [...events, ...[...children.values()].flatMap((child) => child.events)];
  const start = Math.min(...all.map((event) => Date.parse(event.startedAt)));
  const end = Math.max(...all.map((event) => Date.parse(event.endedAt)), start + 1);
  const rows: Html[] = [];
  for (const event of events) {
    rows.push(stepRow(event, start, end, calls, false));
    const child = event.childRunId ? children.get(event.childRunId) : undefined;
    if (child) for (const step of child.events) rows.push(stepRow(step, start, end, child.calls, true));
  }
  return html`<table class="waterfall"><thead><tr><th class="num">#</th><th>Step</th><th>Name</th><th>Status</th><th>Timeline</th><th class="num">Latency</th><th class="num">Tokens in / out</th><th class="num">Cost</th><th>Detail</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function stepRow(event: TraceEvent, start: number, end: number, calls: Map<string, CallText>, nested: boolean): Html {
  const span = end - start;
  const left = ((Date.parse(event.startedAt) - start) / span) * 100;
  const width = Math.max((event.latencyMs / span) * 100, 0.3);
  // Tools as people read them (`server.tool`), a refused call's too, whose event keeps the model's name.
  const shown =
    event.kind !== 'tool_denied' && event.kind !== 'tool_call'
      ? event.name
      : event.server && event.tool
        ? peopleToolName(event.server, event.tool)
        : readableToolName(event.name);
  const name = `${shown}${event.kind === 'model_call' && event.scripted ? ' [scripted]' : ''}${event.attempt !== undefined && event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}`;
  const call = event.callId ? calls.get(event.callId) : undefined;
  // Numbers only in the style attribute: nothing recorded reaches it.
  const bar = html`<div class="bar" role="img" aria-label="${Math.round(event.latencyMs)} ms"><span class="${event.kind}" style="left:${Math.min(left, 99.7).toFixed(2)}%;width:${Math.min(width, 100 - Math.min(left, 99.7)).toFixed(2)}%"></span></div>`;
  return html`<tr class="${nested ? 'nested' : ''}" data-kind="${event.kind}"><td class="num">${nested ? '' : event.seq}</td><td>${event.kind.replace(/_/g, ' ')}</td><td class="name">${nested ? '↳ ' : ''}${name}${event.childRunId ? html` · <a href="/console/runs/${encodeURIComponent(event.childRunId)}">checker run</a>` : ''}</td><td class="${event.status}">${event.status}${event.stopReason ? ` · ${event.stopReason}` : ''}</td><td>${bar}</td><td class="num">${ms(event.latencyMs)}</td><td class="num">${event.inputTokens + event.outputTokens > 0 ? `${count(event.inputTokens)} / ${count(event.outputTokens)}` : ''}</td><td class="num">${event.costMicros > 0 ? formatUsd(event.costMicros) : ''}</td><td>${event.detail ? redactForDisplay(event.detail) : ''}${verdicts(event)}${call ? callDetails(call) : ''}</td></tr>`;
}

function verdicts(event: TraceEvent): Html | '' {
  if (!event.guardrails?.length) return '';
  return html`<ul class="verdicts">${event.guardrails.map((verdict) => html`<li>guardrail ${verdict.rule} (${verdict.stage}): ${verdict.action} · ${verdict.detail}</li>`)}</ul>`;
}

function callDetails(call: CallText): Html {
  return html`<details><summary>arguments and result</summary>${call.arguments !== undefined ? html`<div>arguments</div><pre>${redactForDisplay(call.arguments)}</pre>` : ''}${call.result !== undefined ? html`<div>${call.isError ? 'error' : 'result'}</div><pre class="tool-result">${redactForDisplay(call.result)}</pre>` : ''}</details>`;
}

function messageBlock(seq: number, message: Message): Html {
  return html`<div class="msg ${message.role}"><div class="muted">#${seq} ${message.role}</div>${message.content.map(
    (block) => {
      if (block.type === 'text') return html`<pre>${redactForDisplay(block.text)}</pre>`;
      if (block.type === 'tool_call')
        return html`<div>calls <code>${block.name}</code> <span class="muted">(${block.id})</span></div><pre>${redactForDisplay(JSON.stringify(block.arguments, null, 2))}</pre>`;
      return html`<div>${block.isError ? 'error from' : 'result of'} <code>${block.name}</code> <span class="muted">(${block.callId})</span></div><pre class="tool-result">${redactForDisplay(block.content)}</pre>`;
    },
  )}</div>`;
}
