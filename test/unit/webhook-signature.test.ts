import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  githubSignature,
  looprailSignature,
  REPLAY_WINDOW_SECONDS,
  unknownFilterKeys,
  verifyWebhookSignature,
  WEBHOOK_FILTER_KEYS,
  webhookFacts,
  webhookFilterMatches,
  type WebhookVerifyInput,
} from '../../core/policy/webhook-signature.ts';

/** GitHub's own published example payloads (@octokit/webhooks-examples). */
type Example = { name: string; examples: Array<Record<string, unknown>> };
const EXAMPLES = createRequire(import.meta.url)('@octokit/webhooks-examples') as Example[];
function examplesOf(event: string): Array<Record<string, unknown>> {
  const found = EXAMPLES.find((example) => example.name === event);
  if (!found) throw new Error(`no ${event} examples`);
  return found.examples;
}
const example = (event: string, pick: (payload: Record<string, unknown>) => boolean) => {
  const found = examplesOf(event).find(pick);
  if (!found) throw new Error(`no matching ${event} example`);
  return found;
};

const SECRET = "It's a Secret to Everybody";
const NOW = new Date('2025-06-01T12:00:00Z');
const NOW_SECONDS = NOW.getTime() / 1000;

function github(body: Buffer, signature: string | undefined, secret = SECRET): WebhookVerifyInput {
  return {
    scheme: 'github',
    secret,
    headers: signature === undefined ? {} : { 'x-hub-signature-256': signature },
    rawBody: body,
    now: NOW,
  };
}

describe('GitHub signatures (X-Hub-Signature-256)', () => {
  it("matches GitHub's documented test vector", () => {
    // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!".
    expect(githubSignature(SECRET, 'Hello, World!')).toBe(
      'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    );
  });

  const payloads = ['push', 'pull_request', 'issues', 'ping'].flatMap((event) =>
    examplesOf(event)
      .slice(0, 3)
      .map((payload, index) => ({ event, index, payload })),
  );

  it.each(payloads)('accepts a real $event example (#$index) signed the way GitHub signs it', ({ payload }) => {
    const body = Buffer.from(JSON.stringify(payload));
    expect(verifyWebhookSignature(github(body, githubSignature(SECRET, body)))).toEqual({ ok: true });
  });

  const body = Buffer.from(JSON.stringify(examplesOf('push')[0]));
  const good = githubSignature(SECRET, body);

  it('refuses an unsigned delivery', () => {
    expect(verifyWebhookSignature(github(body, undefined))).toMatchObject({
      ok: false,
      status: 401,
      reason: expect.stringContaining('unsigned'),
    });
  });

  it('refuses a signature made with another secret', () => {
    expect(verifyWebhookSignature(github(body, githubSignature('another secret', body)))).toMatchObject({
      ok: false,
      status: 401,
      reason: 'the signature does not match the body',
    });
  });

  it('refuses a body changed after signing, even by one byte or whitespace', () => {
    const tampered = Buffer.from(body);
    tampered[tampered.length - 2] = tampered[tampered.length - 2]! ^ 1;
    expect(verifyWebhookSignature(github(tampered, good)).ok).toBe(false);
    expect(verifyWebhookSignature(github(Buffer.concat([body, Buffer.from('\n')]), good)).ok).toBe(false);
    // Re-serialised JSON is a different body: verification is over the raw bytes.
    const pretty = Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 2));
    expect(verifyWebhookSignature(github(pretty, good)).ok).toBe(false);
  });

  it('refuses truncated, padded, non-hex and wrongly prefixed signatures', () => {
    for (const signature of [
      good.slice(0, -1),
      good.slice(0, 20),
      `${good}00`,
      `${good.slice(0, -2)}zz`,
      good.replace('sha256=', 'sha1='),
      good.slice('sha256='.length),
      'sha256=',
      '',
    ]) {
      expect(verifyWebhookSignature(github(body, signature)), signature).toMatchObject({ ok: false, status: 401 });
    }
  });

  it('refuses the hex digest in upper case: a signature has one spelling, lower-case hex', () => {
    expect(verifyWebhookSignature(github(body, `sha256=${good.slice(7).toUpperCase()}`))).toEqual({
      ok: false,
      status: 401,
      reason: 'the signature does not match the body',
    });
  });

  it('refuses everything when the secret is empty', () => {
    expect(verifyWebhookSignature(github(body, githubSignature('', body), ''))).toMatchObject({
      ok: false,
      status: 401,
    });
  });
});

describe('generic hmac-sha256 signatures (X-Looprail-Signature over <timestamp>.<body>)', () => {
  const body = Buffer.from('{"hello":"world"}');
  const signed = (
    timestamp: number,
    signature = looprailSignature(SECRET, timestamp, body),
    rawBody = body,
  ): WebhookVerifyInput => ({
    scheme: 'hmac-sha256',
    secret: SECRET,
    headers: { 'x-looprail-signature': signature, 'x-looprail-timestamp': String(timestamp) },
    rawBody,
    now: NOW,
  });

  it('accepts a fresh, correctly signed delivery', () => {
    expect(verifyWebhookSignature(signed(NOW_SECONDS))).toEqual({ ok: true });
    expect(verifyWebhookSignature(signed(NOW_SECONDS - REPLAY_WINDOW_SECONDS))).toEqual({ ok: true });
    expect(verifyWebhookSignature(signed(NOW_SECONDS + REPLAY_WINDOW_SECONDS))).toEqual({ ok: true });
  });

  it('refuses a stale delivery (a replay of a captured request) and one from too far in the future', () => {
    expect(verifyWebhookSignature(signed(NOW_SECONDS - REPLAY_WINDOW_SECONDS - 1))).toMatchObject({
      ok: false,
      status: 401,
      reason: expect.stringMatching(/^stale delivery: signed 301 s ago/),
    });
    expect(verifyWebhookSignature(signed(NOW_SECONDS + REPLAY_WINDOW_SECONDS + 1))).toMatchObject({
      ok: false,
      status: 401,
      reason: expect.stringContaining('in the future'),
    });
  });

  it('binds the timestamp into the signature: a fresh timestamp on an old signature fails', () => {
    const old = NOW_SECONDS - 3600;
    expect(verifyWebhookSignature(signed(NOW_SECONDS, looprailSignature(SECRET, old, body)))).toMatchObject({
      ok: false,
      reason: 'the signature does not match the timestamp and body',
    });
  });

  it('refuses a missing signature, a missing or non-numeric timestamp, another secret, a changed body', () => {
    const base = signed(NOW_SECONDS);
    expect(verifyWebhookSignature({ ...base, headers: { 'x-looprail-timestamp': String(NOW_SECONDS) } })).toMatchObject(
      { status: 401, reason: expect.stringContaining('unsigned') },
    );
    expect(
      verifyWebhookSignature({ ...base, headers: { 'x-looprail-signature': base.headers['x-looprail-signature'] } }),
    ).toMatchObject({ status: 401, reason: expect.stringContaining('Timestamp header is missing') });
    expect(
      verifyWebhookSignature({ ...base, headers: { ...base.headers, 'x-looprail-timestamp': '2025-06-01T12:00:00Z' } }),
    ).toMatchObject({ status: 401, reason: expect.stringContaining('unix seconds') });
    expect(verifyWebhookSignature(signed(NOW_SECONDS, looprailSignature('other', NOW_SECONDS, body))).ok).toBe(false);
    expect(verifyWebhookSignature(signed(NOW_SECONDS, undefined, Buffer.from('{"hello":"World"}'))).ok).toBe(false);
    expect(
      verifyWebhookSignature(signed(NOW_SECONDS, looprailSignature(SECRET, NOW_SECONDS, body).slice(0, -4))).ok,
    ).toBe(false);
    expect(verifyWebhookSignature(signed(NOW_SECONDS, 'sha256=abc'))).toMatchObject({
      status: 401,
      reason: expect.stringContaining('no v1='),
    });
  });

  it('accepts any of several v1 signatures (secret rotation)', () => {
    const both = `v1=${'0'.repeat(64)}, ${looprailSignature(SECRET, NOW_SECONDS, body)}`;
    expect(verifyWebhookSignature(signed(NOW_SECONDS, both))).toEqual({ ok: true });
  });

  it('checks the signature before the window: an unsigned stale request is told only that it is unsigned', () => {
    const stale = NOW_SECONDS - 3600;
    expect(verifyWebhookSignature(signed(stale, looprailSignature('guess', stale, body)))).toMatchObject({
      reason: 'the signature does not match the timestamp and body',
    });
  });
});

describe('webhook filters', () => {
  const pushToMaster = example('push', (p) => p.ref === 'refs/heads/master');
  const pushTag = example('push', (p) => p.ref === 'refs/tags/simple-tag');
  const labeledPr = example('pull_request', (p) => p.action === 'labeled');
  const openedIssue = example('issues', (p) => p.action === 'opened');

  it('reads event, branch, repository and sender from a push', () => {
    expect(webhookFacts('push', pushToMaster)).toEqual({
      event: ['push'],
      action: [],
      branch: ['master'],
      tag: [],
      label: [],
      repository: ['Codertocat/Hello-World'],
      sender: ['Codertocat'],
    });
    expect(webhookFacts('push', pushTag)).toMatchObject({ branch: [], tag: ['simple-tag'] });
  });

  it("reads a pull request's action, target branch and labels, and an issue's labels", () => {
    expect(webhookFacts('pull_request', labeledPr)).toMatchObject({
      event: ['pull_request'],
      action: ['labeled'],
      branch: ['master'],
      label: ['bug'],
    });
    expect(webhookFacts('issues', openedIssue)).toMatchObject({ action: ['opened'], branch: [], label: ['bug'] });
  });

  it('matches when every key matches one of its values', () => {
    expect(webhookFilterMatches({ event: 'push', branch: 'master' }, webhookFacts('push', pushToMaster))).toEqual({
      ok: true,
    });
    expect(
      webhookFilterMatches(
        { event: ['push', 'pull_request'], branch: ['main', 'master'] },
        webhookFacts('push', pushToMaster),
      ),
    ).toEqual({ ok: true });
    expect(
      webhookFilterMatches(
        { event: 'pull_request', action: ['opened', 'labeled'], label: 'bug' },
        webhookFacts('pull_request', labeledPr),
      ),
    ).toEqual({ ok: true });
    expect(webhookFilterMatches(undefined, webhookFacts('push', pushToMaster))).toEqual({ ok: true });
    expect(webhookFilterMatches({}, webhookFacts('push', pushToMaster))).toEqual({ ok: true });
  });

  it('says why a delivery is filtered out', () => {
    expect(webhookFilterMatches({ event: 'push', branch: 'main' }, webhookFacts('push', pushToMaster))).toEqual({
      ok: false,
      reason: 'filtered out: branch "master" is not "main"',
    });
    expect(webhookFilterMatches({ event: 'push' }, webhookFacts('issues', openedIssue))).toEqual({
      ok: false,
      reason: 'filtered out: event "issues" is not "push"',
    });
    expect(webhookFilterMatches({ branch: 'main' }, webhookFacts('issues', openedIssue))).toEqual({
      ok: false,
      reason: 'filtered out: the delivery has no branch (the filter wants "main")',
    });
    expect(webhookFilterMatches({ label: ['security', 'urgent'] }, webhookFacts('issues', openedIssue))).toEqual({
      ok: false,
      reason: 'filtered out: label "bug" is not one of "security", "urgent"',
    });
    expect(webhookFilterMatches({ branch: 'master' }, webhookFacts('push', pushTag)).ok).toBe(false);
  });

  it('supports * wildcards and compares repositories case-insensitively', () => {
    const facts = webhookFacts('push', { ...pushToMaster, ref: 'refs/heads/release/1.2' });
    expect(webhookFilterMatches({ branch: 'release/*' }, facts)).toEqual({ ok: true });
    expect(webhookFilterMatches({ branch: 'rel*.2' }, facts)).toEqual({ ok: true });
    expect(webhookFilterMatches({ branch: 'release/*.3' }, facts).ok).toBe(false);
    expect(webhookFilterMatches({ branch: 'Release/*' }, facts).ok).toBe(false);
    expect(webhookFilterMatches({ repository: 'codertocat/hello-world' }, facts)).toEqual({ ok: true });
    expect(webhookFilterMatches({ repository: 'codertocat/*' }, facts)).toEqual({ ok: true });
    // Regex characters in a value are literal.
    expect(webhookFilterMatches({ branch: 'release/1?2' }, facts).ok).toBe(false);
  });

  it('reports unknown filter keys (a definition error) and never matches with one', () => {
    expect(unknownFilterKeys({ event: 'push', brnach: 'main', labels: 'x' })).toEqual(['brnach', 'labels']);
    expect(unknownFilterKeys(Object.fromEntries(WEBHOOK_FILTER_KEYS.map((key) => [key, 'x'])))).toEqual([]);
    expect(unknownFilterKeys(undefined)).toEqual([]);
    expect(webhookFilterMatches({ brnach: 'master' }, webhookFacts('push', pushToMaster))).toEqual({
      ok: false,
      reason: 'the filter has unknown keys: brnach',
    });
  });

  it('reads nothing from bodies of the wrong shape', () => {
    for (const body of [null, 'text', 42, [], { ref: 7, repository: 'x', pull_request: { labels: 'bug' } }]) {
      expect(webhookFacts(undefined, body)).toEqual({
        event: [],
        action: [],
        branch: [],
        tag: [],
        label: [],
        repository: [],
        sender: [],
      });
    }
  });
});
