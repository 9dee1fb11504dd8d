import type { NotifyEvent, NotifyTarget } from '../definitions/agent.ts';
import type { AgentView } from '../definitions/context.ts';
import { textOf, type Message } from '../definitions/messages.ts';
import { runUsage, type RunMeta } from '../definitions/run.ts';
import { html, joinHtml } from '../format/html.ts';
import { formatUsd } from '../format/usd.ts';
import { TRIGGER_KINDS } from '../definitions/trigger-kinds.ts';
import { errorMessage } from '../errors.ts';
import type { RunDeps } from './deps.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';

/**
 * Notifications (an agent's `notify:` entries): the run's outcome — stop reason, the
 * maker's last answer, cost, a link to the trace — sent by email or to a Slack-compatible
 * webhook when the run finishes, fails or pauses for a human.
 *
 * Like runtime events, a notification announces a change already committed: one that
 * cannot be delivered is logged (never with its content or the webhook's URL) and never
 * fails the step. A step that crashes between its commit and the sending sends nothing:
 * notifications are at most once.
 */

export type NotificationKind = NotifyEvent;

/** What a pause is waiting for (the approval request that was just committed). */
export interface PauseInfo {
  reasons: string[];
  /** `server.tool` names waiting for approval; empty for a budget increase. */
  tools: string[];
  expiresAt: string;
  /** For a budget pause: the budget and the increase asked for. */
  budget?: { name: string; amountMicros: number };
}

export interface NotificationDetails {
  /** The maker's last answer, already trimmed (see lastAnswer). */
  summary?: string;
  pause?: PauseInfo;
  /** The console/API's public base URL; the trace link points under it. Without it, the CLI command is given. */
  consoleUrl?: string;
}

/** Slack-compatible JSON: `text` is the fallback every client shows; `blocks` the rich layout. */
export interface SlackMessage {
  [key: string]: unknown;
  text: string;
  blocks: Array<Record<string, unknown>>;
}

export interface Notification {
  subject: string;
  text: string;
  html: string;
  slack: SlackMessage;
}

/** How much of the maker's last answer a notification carries. */
export const SUMMARY_MAX_CHARS = 600;
const DETAIL_MAX_CHARS = 300;

function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max
    ? text
    : `${chars
        .slice(0, max - 1)
        .join('')
        .trimEnd()}…`;
}

/** The maker's last answer, whitespace tidied and trimmed; undefined when it said nothing. */
export function lastAnswer(messages: Message[], max = SUMMARY_MAX_CHARS): string | undefined {
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index]!;
    if (message.role !== 'assistant') continue;
    const text = textOf(message)
      .replace(/\r\n?/g, '\n')
      .replace(/[ \t]+\n/g, '\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
    if (text) return clip(text, max);
  }
  return undefined;
}

/** Which `on:` event a run that has ended matches: its status (a normal stop such as `rejected` is `finished`). */
export function endKind(meta: RunMeta): NotificationKind {
  return meta.status === 'failed' ? 'failed' : 'finished';
}

export function traceLink(runId: string, consoleUrl: string | undefined): { url?: string; label: string } {
  if (consoleUrl && /^https?:\/\//i.test(consoleUrl)) {
    const url = `${consoleUrl.replace(/\/+$/, '')}/v1/runs/${encodeURIComponent(runId)}/trace`;
    return { url, label: url };
  }
  return { label: `looprail trace ${runId}` };
}

function durationText(meta: RunMeta): string | undefined {
  if (!meta.endedAt) return undefined;
  const ms = Date.parse(meta.endedAt) - Date.parse(meta.startedAt ?? meta.createdAt);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m ${seconds % 60}s` : `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

interface Facts {
  headline: string;
  detail?: string;
  pauseLines: string[];
  cost: string;
  facts: Array<[string, string]>;
}

function factsFor(
  meta: RunMeta,
  view: Pick<AgentView, 'agent'>,
  kind: NotificationKind,
  pause: PauseInfo | undefined,
): Facts {
  const usage = runUsage(meta);
  const tokens = usage.inputTokens + usage.outputTokens;
  const cost = `${formatUsd(usage.costMicros)} (${tokens.toLocaleString('en-US')} tokens)`;
  const reason = meta.stopReason ?? 'unknown';
  const headline =
    kind === 'paused'
      ? `Run ${meta.runId} of ${view.agent} is paused, waiting for a human`
      : `Run ${meta.runId} of ${view.agent} ${kind === 'failed' ? 'failed' : 'finished'}: ${reason}`;
  const detail =
    kind !== 'paused' && meta.stopDetail && meta.stopDetail !== reason
      ? clip(meta.stopDetail, DETAIL_MAX_CHARS)
      : undefined;
  const pauseLines: string[] = [];
  if (kind === 'paused' && pause) {
    if (pause.budget)
      pauseLines.push(`Budget ${pause.budget.name}: ${formatUsd(pause.budget.amountMicros)} more asked for`);
    if (pause.tools.length > 0) pauseLines.push(`Tools waiting for approval: ${pause.tools.join(', ')}`);
    for (const reason of pause.reasons) pauseLines.push(`Why: ${clip(reason, DETAIL_MAX_CHARS)}`);
    pauseLines.push(`Expires: ${pause.expiresAt}`);
  }
  const facts: Array<[string, string]> = [[kind === 'paused' ? 'Cost so far' : 'Cost', cost]];
  const duration = durationText(meta);
  if (duration) facts.push(['Duration', duration]);
  facts.push(
    ['Model calls', String(meta.modelCalls)],
    ['Tool calls', String(meta.toolCalls)],
    ['Trigger', meta.trigger.kind],
  );
  if (meta.principal) facts.push(['Started by', meta.principal]);
  return { headline, detail, pauseLines, cost, facts };
}

/** Slack's own escaping: its mrkdwn treats only these three as control characters. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Builds the message for one run and event; pure, so every part (and its escaping) is testable. */
export function notificationFor(
  meta: RunMeta,
  view: Pick<AgentView, 'agent'>,
  kind: NotificationKind,
  details: NotificationDetails = {},
): Notification {
  const { headline, detail, pauseLines, cost, facts } = factsFor(meta, view, kind, details.pause);
  const link = traceLink(meta.runId, details.consoleUrl);
  const summary = details.summary?.trim() || undefined;

  const subject =
    kind === 'paused'
      ? `[looprail] ${view.agent} is waiting for approval`
      : `[looprail] ${view.agent} ${kind === 'failed' ? 'failed' : 'finished'}: ${meta.stopReason ?? 'unknown'}`;

  const text = [
    `${headline}.`,
    ...(detail ? [detail] : []),
    ...(pauseLines.length > 0 ? ['', ...pauseLines] : []),
    ...(summary ? ['', kind === 'paused' ? 'Last answer so far:' : 'Last answer:', summary] : []),
    '',
    ...facts.map(([label, value]) => `${label}: ${value}`),
    `Trace: ${link.label}`,
    '',
  ].join('\n');

  const row = ([label, value]: [string, string]) =>
    html`<tr><th align="left" style="padding-right:12px">${label}</th><td>${value}</td></tr>`;
  const document = joinHtml(
    [
      html`<!doctype html>`,
      html`<html><head><meta charset="utf-8"><title>${subject}</title></head>`,
      html`<body style="font-family:sans-serif">`,
      html`<p><strong>${headline}.</strong></p>`,
      ...(detail ? [html`<p>${detail}</p>`] : []),
      ...(pauseLines.length > 0 ? [html`<ul>${pauseLines.map((line) => html`<li>${line}</li>`)}</ul>`] : []),
      ...(summary
        ? [
            html`<p>${kind === 'paused' ? 'Last answer so far:' : 'Last answer:'}</p>`,
            html`<pre style="white-space:pre-wrap">${summary}</pre>`,
          ]
        : []),
      html`<table>${facts.map(row)}</table>`,
      link.url ? html`<p><a href="${link.url}">Trace</a></p>` : html`<p>Trace: <code>${link.label}</code></p>`,
      html`</body></html>`,
      '',
    ],
    '\n',
  );

  const slackTrace = link.url ? `<${link.url}|Trace>` : `Trace: \`${escapeSlack(link.label)}\``;
  const blocks: Array<Record<string, unknown>> = [
    {
      type: 'section',
      text: { type: 'mrkdwn', text: `*${escapeSlack(headline)}*${detail ? `\n${escapeSlack(detail)}` : ''}` },
    },
  ];
  if (pauseLines.length > 0)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: pauseLines.map(escapeSlack).join('\n') } });
  if (summary) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${escapeSlack(summary)}\`\`\`` } });
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: `${escapeSlack(facts.map(([label, value]) => `${label}: ${value}`).join(' · '))} · ${slackTrace}`,
      },
    ],
  });
  const slack: SlackMessage = { text: escapeSlack(`${headline} (${cost})`), blocks };

  return { subject, text, html: document.value, slack };
}

/** What the caller already holds, to spare a read of the run's snapshot and conversation. */
export interface NotifyOptions {
  loaded?: { view: AgentView; messages: Message[] };
  pause?: PauseInfo;
  consoleUrl?: string;
}

/** For the log: which kind of destination, and for a webhook only its host (paths and queries can hold tokens). */
function describeTarget(target: NotifyTarget): Record<string, string> {
  if (target.email !== undefined) return { destination: 'email' };
  try {
    return { destination: 'webhook', host: new URL(target.webhook!).host };
  } catch {
    return { destination: 'webhook' };
  }
}

/**
 * Sends the run's notification to each of its agent's `notify:` entries that asked for
 * this event. Maker runs only, and not runs started by the MCP gateway (their caller gets
 * the result directly). Never throws.
 */
export async function notifyRun(
  deps: Pick<RunDeps, 'log' | 'mailer' | 'webhooks'> & { store: RunRecordStore },
  meta: RunMeta,
  kind: NotificationKind,
  options: NotifyOptions = {},
): Promise<void> {
  if (meta.role !== 'maker' || !TRIGGER_KINDS[meta.trigger.kind].announced) return;
  let targets: NotifyTarget[];
  let message: Notification;
  try {
    let loaded = options.loaded;
    if (!loaded) {
      const state = await deps.store.loadState(meta.runId);
      if (!state?.context) return;
      loaded = { view: state.context.view, messages: state.messages };
    }
    targets = (loaded.view.notify ?? []).filter((target) => target.on.includes(kind));
    if (targets.length === 0) return;
    message = notificationFor(meta, loaded.view, kind, {
      summary: lastAnswer(loaded.messages),
      pause: options.pause,
      consoleUrl: options.consoleUrl,
    });
  } catch (error) {
    deps.log.warn('could not prepare the run notification', { runId: meta.runId, kind, error: errorMessage(error) });
    return;
  }
  await Promise.all(
    targets.map(async (target) => {
      try {
        if (target.email !== undefined) {
          if (!deps.mailer) throw new Error('no mailer is configured');
          await deps.mailer.send({
            to: [target.email],
            subject: message.subject,
            text: message.text,
            html: message.html,
          });
        } else {
          if (!deps.webhooks) throw new Error('no webhook poster is configured');
          await deps.webhooks.post(target.webhook!, message.slack);
        }
      } catch (error) {
        deps.log.warn('a run notification could not be delivered', {
          runId: meta.runId,
          agent: meta.agent,
          kind,
          ...describeTarget(target),
          error: errorMessage(error),
        });
      }
    }),
  );
}
