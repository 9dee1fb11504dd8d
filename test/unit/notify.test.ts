import { describe, expect, it } from 'vitest';
import { AgentSpec, NotifyTarget } from '../../core/definitions/agent.ts';
import type { AgentView } from '../../core/definitions/context.ts';
import type { Message } from '../../core/definitions/messages.ts';
import { ZERO_USAGE, type RunMeta } from '../../core/definitions/run.ts';
import type { Mailer, MailMessage } from '../../core/ports/mail.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { endKind, lastAnswer, notificationFor, notifyRun, SUMMARY_MAX_CHARS } from '../../core/run/notify.ts';

function runMeta(overrides: Partial<RunMeta> = {}): RunMeta {
  return {
    runId: 'run-123',
    agent: 'nightly',
    principal: 'schedule',
    trigger: { kind: 'schedule' },
    role: 'maker',
    input: {},
    status: 'finished',
    stopReason: 'verified',
    createdAt: '2026-11-24T06:00:00.000Z',
    startedAt: '2026-11-24T06:00:00.000Z',
    endedAt: '2026-11-24T06:01:05.000Z',
    seq: 9,
    messageCount: 4,
    traceCount: 6,
    modelCalls: 3,
    toolCalls: 2,
    verifyAttempts: 1,
    usage: { inputTokens: 10_000, outputTokens: 2_000, cachedInputTokens: 0, costMicros: 60_000 },
    checkerUsage: { ...ZERO_USAGE, inputTokens: 1_000, outputTokens: 100, costMicros: 1_500 },
    ...overrides,
  };
}

const view = { agent: 'nightly' };
const answer = (text: string): Message => ({ role: 'assistant', content: [{ type: 'text', text }] });

describe('the notify: schema', () => {
  it('defaults to every event and to no entries', () => {
    expect(NotifyTarget.parse({ email: 'lead@example.com' })).toEqual({
      on: ['finished', 'failed', 'paused'],
      email: 'lead@example.com',
    });
    const spec = AgentSpec.parse({ name: 'a', model: 'm', instructions: './i.md@v1' });
    expect(spec.notify).toEqual([]);
  });

  it('refuses an entry with both or neither of email and webhook, and webhooks that are not http(s)', () => {
    const messages = (value: unknown) =>
      (NotifyTarget.safeParse(value).error?.issues ?? []).map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    expect(messages({ email: 'lead@example.com', webhook: 'https://hooks.example.com/x' })).toEqual([
      ': expected exactly one of email or webhook in each notify entry',
    ]);
    expect(messages({ on: ['finished'] })).toEqual([': expected exactly one of email or webhook in each notify entry']);
    expect(messages({ webhook: 'javascript:alert(1)' })).toEqual(['webhook: expected an http(s) URL']);
    expect(messages({ email: 'not-an-address' })).toEqual(['email: expected an email address']);
    expect(messages({ on: ['done'], email: 'lead@example.com' })).toEqual([
      'on.0: expected finished, failed or paused',
    ]);
    expect(messages({ email: 'lead@example.com', channel: '#x' })[0]).toMatch(/channel/);
  });
});

describe('notification messages', () => {
  it('a finished run: stop reason, last answer, cost, duration and the trace', () => {
    const message = notificationFor(runMeta(), view, 'finished', { summary: 'Triaged 3 failures; opened PR #12.' });
    expect(message.subject).toBe('[looprail] nightly finished: verified');
    expect(message.text).toBe(
      [
        'Run run-123 of nightly finished: verified.',
        '',
        'Last answer:',
        'Triaged 3 failures; opened PR #12.',
        '',
        'Cost: $0.0615 (13,100 tokens)',
        'Duration: 1m 5s',
        'Model calls: 3',
        'Tool calls: 2',
        'Trigger: schedule',
        'Started by: schedule',
        'Trace: looprail trace run-123',
        '',
      ].join('\n'),
    );
    expect(message.html).toContain('<strong>Run run-123 of nightly finished: verified.</strong>');
    expect(message.html).toContain('<code>looprail trace run-123</code>');
    expect(message.slack.text).toBe('Run run-123 of nightly finished: verified ($0.0615 (13,100 tokens))');
    expect(message.slack.blocks[0]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: '*Run run-123 of nightly finished: verified*' },
    });
    expect(message.slack.blocks.at(-1)).toEqual({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: 'Cost: $0.0615 (13,100 tokens) · Duration: 1m 5s · Model calls: 3 · Tool calls: 2 · Trigger: schedule · Started by: schedule · Trace: `looprail trace run-123`',
        },
      ],
    });
  });

  it('a failed run: its detail, and a trace link under the console URL', () => {
    const meta = runMeta({
      status: 'failed',
      stopReason: 'timeout',
      stopDetail: 'States.Timeout: the run took longer than 15 minutes',
    });
    const message = notificationFor(meta, view, 'failed', { consoleUrl: 'https://looprail.example.com/' });
    expect(message.subject).toBe('[looprail] nightly failed: timeout');
    expect(message.text.split('\n').slice(0, 2)).toEqual([
      'Run run-123 of nightly failed: timeout.',
      'States.Timeout: the run took longer than 15 minutes',
    ]);
    expect(message.text).not.toContain('Last answer');
    expect(message.text).toContain('Trace: https://looprail.example.com/v1/runs/run-123/trace');
    expect(message.html).toContain('<a href="https://looprail.example.com/v1/runs/run-123/trace">Trace</a>');
    expect(JSON.stringify(message.slack.blocks)).toContain(
      '<https://looprail.example.com/v1/runs/run-123/trace|Trace>',
    );
  });

  it('a paused run: what waits for whom, and the cost so far', () => {
    const meta = runMeta({ status: 'paused', stopReason: undefined, endedAt: undefined });
    const message = notificationFor(meta, view, 'paused', {
      summary: 'Merging the fix.',
      pause: {
        tools: ['github.merge_pr'],
        reasons: ['merge_pr needs approval'],
        expiresAt: '2026-11-27T06:00:00.000Z',
      },
    });
    expect(message.subject).toBe('[looprail] nightly is waiting for approval');
    expect(message.text).toContain(
      'Run run-123 of nightly is paused, waiting for a human.\n\nTools waiting for approval: github.merge_pr\nWhy: merge_pr needs approval\nExpires: 2026-11-27T06:00:00.000Z\n',
    );
    expect(message.text).toContain('Last answer so far:\nMerging the fix.');
    expect(message.text).toContain('Cost so far: $0.0615');
    expect(message.text).not.toContain('Duration');
    expect(message.html).toContain('<li>Tools waiting for approval: github.merge_pr</li>');
  });

  it('escapes a model answer everywhere: no markup from the model reaches the HTML or Slack', () => {
    const evil = '<script>alert("x")</script> & <img src=x onerror=alert(1)> \'quoted\'';
    const message = notificationFor(runMeta({ stopDetail: '<b>detail</b>' }), { agent: 'nightly' }, 'finished', {
      summary: evil,
    });
    expect(message.html).not.toMatch(/<script|<img|<b>/);
    expect(message.html).toContain(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt; &#39;quoted&#39;',
    );
    expect(message.html).toContain('&lt;b&gt;detail&lt;/b&gt;');
    const slack = JSON.stringify(message.slack);
    expect(slack).not.toContain('<script');
    expect(slack).toContain('&lt;script&gt;alert(\\"x\\")&lt;/script&gt; &amp; &lt;img');
    // The plain-text part carries the answer as the model wrote it.
    expect(message.text).toContain(evil);
  });

  it("summarises the maker's last answer, trimmed", () => {
    const messages: Message[] = [
      answer('First.'),
      { role: 'tool', content: [{ type: 'tool_result', callId: 'c', name: 't', content: 'ok', isError: false }] },
      answer('  Done:\r\n\r\n\r\n\r\nall   \ngood.  '),
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c2', name: 't', arguments: {} }] },
    ];
    expect(lastAnswer(messages)).toBe('Done:\n\nall\ngood.');
    const long = lastAnswer([answer('x'.repeat(5000))])!;
    expect([...long]).toHaveLength(SUMMARY_MAX_CHARS);
    expect(long.endsWith('…')).toBe(true);
    expect(lastAnswer([])).toBeUndefined();
  });

  it('maps an ended run to its event by status', () => {
    expect(endKind(runMeta())).toBe('finished');
    expect(endKind(runMeta({ stopReason: 'rejected' }))).toBe('finished');
    expect(endKind(runMeta({ status: 'failed', stopReason: 'error' }))).toBe('failed');
  });
});

describe('notifyRun', () => {
  function harness(notify: AgentView['notify'], failing: { mail?: boolean; webhook?: boolean } = {}) {
    const mails: MailMessage[] = [];
    const posts: Array<{ url: string; body: Record<string, unknown> }> = [];
    const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = [];
    const mailer: Mailer = {
      async send(message) {
        if (failing.mail) throw new Error('smtp down');
        mails.push(message);
        return { messageId: '<1@x>' };
      },
    };
    const deps = {
      mailer,
      webhooks: {
        async post(url: string, body: Record<string, unknown>) {
          if (failing.webhook) throw new Error('the webhook at https://hooks.example.com answered 500');
          posts.push({ url, body });
        },
      },
      log: {
        info() {},
        error() {},
        warn: (message: string, fields?: Record<string, unknown>) => warnings.push({ message, fields }),
      },
      store: {
        async loadState() {
          throw new Error('the caller passed what it had loaded');
        },
      },
    } as unknown as RunDeps;
    const loaded = { view: { agent: 'nightly', notify } as AgentView, messages: [answer('All green.')] };
    return { deps, mails, posts, warnings, loaded };
  }

  const targets = [
    NotifyTarget.parse({ email: 'lead@example.com' }),
    NotifyTarget.parse({ on: ['failed'], email: 'oncall@example.com' }),
    NotifyTarget.parse({ webhook: 'https://hooks.example.com/services/T0/B0/secret-token?x=1' }),
  ];

  it('sends to each entry that asked for the event, and only those', async () => {
    const { deps, mails, posts, loaded } = harness(targets);
    await notifyRun(deps, runMeta(), 'finished', { loaded });
    expect(mails.map((mail) => mail.to)).toEqual([['lead@example.com']]);
    expect(mails[0]).toMatchObject({ subject: '[looprail] nightly finished: verified' });
    expect(mails[0]!.text).toContain('All green.');
    expect(mails[0]!.html).toContain('All green.');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.url).toBe('https://hooks.example.com/services/T0/B0/secret-token?x=1');
    expect(posts[0]!.body).toMatchObject({ text: expect.stringContaining('finished: verified') });
  });

  it('never for checker runs or runs started through the MCP gateway', async () => {
    const { deps, mails, posts, loaded } = harness(targets);
    await notifyRun(deps, runMeta({ role: 'checker' }), 'finished', { loaded });
    await notifyRun(deps, runMeta({ trigger: { kind: 'mcp' } }), 'finished', { loaded });
    expect([mails, posts]).toEqual([[], []]);
  });

  it("logs a delivery that fails, without the URL's path or query, and never throws", async () => {
    const { deps, mails, warnings, loaded } = harness(targets, { webhook: true });
    await expect(
      notifyRun(deps, runMeta({ status: 'failed', stopReason: 'error' }), 'failed', { loaded }),
    ).resolves.toBeUndefined();
    expect(mails.map((mail) => mail.to[0])).toEqual(['lead@example.com', 'oncall@example.com']);
    expect(warnings).toEqual([
      {
        message: 'a run notification could not be delivered',
        fields: {
          runId: 'run-123',
          agent: 'nightly',
          kind: 'failed',
          destination: 'webhook',
          host: 'hooks.example.com',
          error: 'the webhook at https://hooks.example.com answered 500',
        },
      },
    ]);
    expect(JSON.stringify(warnings)).not.toContain('secret-token');
  });

  it('logs, and does not throw, when the run cannot be read or no mailer is configured', async () => {
    const broken = harness(targets);
    await notifyRun(broken.deps, runMeta(), 'finished');
    expect(broken.warnings.map((warning) => warning.message)).toEqual(['could not prepare the run notification']);

    const bare = harness(targets);
    await notifyRun({ ...bare.deps, mailer: undefined }, runMeta(), 'finished', { loaded: bare.loaded });
    expect(bare.warnings.map((warning) => warning.fields?.error)).toEqual(['no mailer is configured']);
  });
});
