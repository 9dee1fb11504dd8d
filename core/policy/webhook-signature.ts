import { createHmac, timingSafeEqual } from 'node:crypto';
import { globMatches } from './glob.ts';

/**
 * Webhook deliveries are verified over the RAW body, before anything parses it, and a
 * delivery decides whether it starts a run by the definition's `filter`. Pure: the
 * secret, the headers, the bytes and the time are all passed in.
 *
 * Schemes (`trigger.webhook.scheme`):
 * - `github`: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body with
 *   the secret, as GitHub signs it. `<hex>` is lower-case, in both schemes: a signature
 *   has one spelling. GitHub signs no timestamp: its replay protection is
 *   the delivery id (`X-GitHub-Delivery`), which is the run's dedupe key.
 * - `hmac-sha256` (generic senders): `X-Looprail-Timestamp: <unix seconds>` and
 *   `X-Looprail-Signature: v1=<hex>`, the HMAC-SHA256 of `<timestamp>.<raw body>`. A
 *   timestamp more than 5 minutes away from now (either way) is refused, so a captured
 *   request cannot be replayed later. Several `v1=` values, comma-separated, are accepted
 *   (a sender rotating its secret signs with both). The delivery id is not signed: a
 *   captured request re-sent within the window under a new `X-Looprail-Delivery` would
 *   start a second run; closing that needs a record of signatures seen (not kept yet).
 */

export type WebhookScheme = 'github' | 'hmac-sha256';

export type WebhookVerification = { ok: true } | { ok: false; status: 401; reason: string };

/** How far a generic delivery's timestamp may be from now, either way. */
export const REPLAY_WINDOW_SECONDS = 5 * 60;

export const WEBHOOK_HEADERS = {
  githubSignature: 'x-hub-signature-256',
  githubEvent: 'x-github-event',
  githubDelivery: 'x-github-delivery',
  signature: 'x-looprail-signature',
  timestamp: 'x-looprail-timestamp',
  event: 'x-looprail-event',
  delivery: 'x-looprail-delivery',
} as const;

export interface WebhookVerifyInput {
  scheme: WebhookScheme;
  secret: string;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  rawBody: Buffer;
  now: Date;
}

export function verifyWebhookSignature(input: WebhookVerifyInput): WebhookVerification {
  if (input.secret === '')
    return { ok: false, status: 401, reason: 'the webhook secret is empty; refusing every delivery' };
  return input.scheme === 'github' ? verifyGithub(input) : verifyGeneric(input);
}

function verifyGithub(input: WebhookVerifyInput): WebhookVerification {
  const header = input.headers[WEBHOOK_HEADERS.githubSignature];
  if (!header)
    return { ok: false, status: 401, reason: 'unsigned delivery: the X-Hub-Signature-256 header is missing' };
  const match = /^sha256=(.*)$/.exec(header.trim());
  if (!match) return { ok: false, status: 401, reason: 'X-Hub-Signature-256 is not of the form sha256=<hex>' };
  const expected = hmac(input.secret, input.rawBody);
  if (!hexEquals(expected, match[1]!))
    return { ok: false, status: 401, reason: 'the signature does not match the body' };
  return { ok: true };
}

function verifyGeneric(input: WebhookVerifyInput): WebhookVerification {
  const header = input.headers[WEBHOOK_HEADERS.signature];
  const timestamp = input.headers[WEBHOOK_HEADERS.timestamp]?.trim();
  if (!header)
    return { ok: false, status: 401, reason: 'unsigned delivery: the X-Looprail-Signature header is missing' };
  if (!timestamp) return { ok: false, status: 401, reason: 'the X-Looprail-Timestamp header is missing' };
  if (!/^\d{1,12}$/.test(timestamp))
    return { ok: false, status: 401, reason: 'X-Looprail-Timestamp must be unix seconds' };
  const signatures = header
    .split(',')
    .map((part) => /^\s*v1=(.*?)\s*$/.exec(part)?.[1])
    .filter((value): value is string => value !== undefined);
  if (signatures.length === 0)
    return { ok: false, status: 401, reason: 'X-Looprail-Signature has no v1=<hex> signature' };
  const expected = hmac(input.secret, Buffer.concat([Buffer.from(`${timestamp}.`), input.rawBody]));
  // Every candidate is compared (no early exit), so timing does not tell which one matched.
  let matched = false;
  for (const signature of signatures) matched = hexEquals(expected, signature) || matched;
  if (!matched) return { ok: false, status: 401, reason: 'the signature does not match the timestamp and body' };
  // Checked after the signature: an unsigned caller learns nothing about the window.
  const skew = Math.floor(input.now.getTime() / 1000) - Number(timestamp);
  if (skew > REPLAY_WINDOW_SECONDS) {
    return {
      ok: false,
      status: 401,
      reason: `stale delivery: signed ${skew} s ago, more than the ${REPLAY_WINDOW_SECONDS} s replay window`,
    };
  }
  if (skew < -REPLAY_WINDOW_SECONDS) {
    return {
      ok: false,
      status: 401,
      reason: `the delivery's timestamp is ${-skew} s in the future, beyond the ${REPLAY_WINDOW_SECONDS} s window (check the sender's clock)`,
    };
  }
  return { ok: true };
}

function hmac(secret: string, data: Buffer): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

/**
 * Constant-time comparison of a digest with a hex string from a header. A signature has one
 * spelling, lower-case hex (as GitHub and every HMAC library write it): upper or mixed case
 * is refused like a wrong digest. A value of the wrong length or not lower-case hex still
 * costs one full comparison (of the digest with itself), so the time taken says nothing
 * about how close the guess was.
 */
function hexEquals(expected: Buffer, candidateHex: string): boolean {
  const candidate =
    /^[0-9a-f]*$/.test(candidateHex) && candidateHex.length === expected.length * 2
      ? Buffer.from(candidateHex, 'hex')
      : undefined;
  if (!candidate) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(expected, candidate);
}

/** Signs a body the way GitHub does: the value of `X-Hub-Signature-256`. */
export function githubSignature(secret: string, rawBody: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** Signs a body for the generic scheme: the value of `X-Looprail-Signature`. */
export function looprailSignature(secret: string, timestampSeconds: number, rawBody: Buffer | string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------
// Filters

/**
 * What a filter can test, read from one delivery. Supported filter keys (each takes a
 * string or a list of strings; a list matches any of its values; `*` in a value matches
 * any run of characters, so `release/*` matches `release/1.2`):
 *
 * | key          | GitHub                                                                   | generic scheme                     |
 * |--------------|--------------------------------------------------------------------------|------------------------------------|
 * | `event`      | the `X-GitHub-Event` header (`push`, `pull_request`, `issues`…)          | the `X-Looprail-Event` header      |
 * | `action`     | the body's `action` (`opened`, `labeled`…)                                | the body's `action`                |
 * | `branch`     | `ref` when it is `refs/heads/<branch>`; else `pull_request.base.ref` (the branch a PR targets); else `workflow_run`/`check_suite`/`check_run` `head_branch` | the same fields |
 * | `tag`        | `ref` when it is `refs/tags/<tag>`                                       | the same                           |
 * | `label`      | any label on `pull_request.labels` or `issue.labels`, and the `label` just added or removed | the same |
 * | `repository` | `repository.full_name` (`owner/name`, compared case-insensitively)       | the same                           |
 * | `sender`     | `sender.login`                                                           | the same                           |
 *
 * Every key in the filter must match (AND); a delivery without the field (a `branch`
 * filter on an `issues` event) does not match.
 */
export const WEBHOOK_FILTER_KEYS = ['event', 'action', 'branch', 'tag', 'label', 'repository', 'sender'] as const;
export type WebhookFilterKey = (typeof WEBHOOK_FILTER_KEYS)[number];

export type WebhookFilter = Record<string, string | string[]>;

/** The facts of one delivery that filters test; each a list (a delivery has several labels). */
export type WebhookFacts = Record<WebhookFilterKey, string[]>;

/** Filter keys this module does not know: a definition error (`looprail validate`). */
export function unknownFilterKeys(filter: WebhookFilter | undefined): string[] {
  if (!filter) return [];
  return Object.keys(filter).filter((key) => !(WEBHOOK_FILTER_KEYS as readonly string[]).includes(key));
}

const CASE_INSENSITIVE: ReadonlySet<WebhookFilterKey> = new Set(['repository']);

/** Reads the filterable facts of a delivery from its event name and parsed body. */
export function webhookFacts(event: string | undefined, body: unknown): WebhookFacts {
  const root = asRecord(body);
  const ref = stringAt(root, 'ref');
  const pullRequest = asRecord(root?.pull_request);
  const issue = asRecord(root?.issue);
  const branch =
    (ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined) ??
    stringAt(asRecord(pullRequest?.base), 'ref') ??
    stringAt(asRecord(root?.workflow_run), 'head_branch') ??
    stringAt(asRecord(root?.check_suite), 'head_branch') ??
    stringAt(asRecord(asRecord(root?.check_run)?.check_suite), 'head_branch');
  const labels = [...labelNames(pullRequest?.labels), ...labelNames(issue?.labels), ...labelNames([root?.label])];
  return {
    event: event ? [event] : [],
    action: listOf(stringAt(root, 'action')),
    branch: listOf(branch),
    tag: listOf(ref?.startsWith('refs/tags/') ? ref.slice('refs/tags/'.length) : undefined),
    label: [...new Set(labels)],
    repository: listOf(stringAt(asRecord(root?.repository), 'full_name')),
    sender: listOf(stringAt(asRecord(root?.sender), 'login')),
  };
}

export type FilterResult = { ok: true } | { ok: false; reason: string };

/** Every key of the filter must match one of the delivery's values for it. */
export function webhookFilterMatches(filter: WebhookFilter | undefined, facts: WebhookFacts): FilterResult {
  if (!filter) return { ok: true };
  const unknown = unknownFilterKeys(filter);
  if (unknown.length > 0) return { ok: false, reason: `the filter has unknown keys: ${unknown.join(', ')}` };
  for (const [key, wanted] of Object.entries(filter) as Array<[WebhookFilterKey, string | string[]]>) {
    const patterns = [wanted].flat();
    const values = facts[key];
    if (values.length === 0)
      return { ok: false, reason: `filtered out: the delivery has no ${key} (the filter wants ${describe(patterns)})` };
    const options = { caseInsensitive: CASE_INSENSITIVE.has(key) };
    const hit = values.some((value) => patterns.some((pattern) => globMatches(pattern, value, options)));
    if (!hit) return { ok: false, reason: `filtered out: ${key} ${describe(values)} is not ${describe(patterns)}` };
  }
  return { ok: true };
}

function describe(values: string[]): string {
  return values.length === 1 ? `"${values[0]}"` : `one of ${values.map((value) => `"${value}"`).join(', ')}`;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function stringAt(record: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = record?.[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function listOf(value: string | undefined): string[] {
  return value === undefined ? [] : [value];
}

function labelNames(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((label) => stringAt(asRecord(label), 'name')).filter((name): name is string => name !== undefined);
}
