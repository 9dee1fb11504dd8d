import type * as z from '../../core/definitions/zod.ts';
import { ConfigurationError, ContextTooLongError, ModelUnavailableError } from '../../core/errors.ts';
import { systemClock } from '../../core/ports/clock.ts';
import type { Clock } from '../../core/ports/clock.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import { knownValueRedactor } from '../../core/guardrails/redact-known.ts';

/**
 * The HTTP mechanics shared by the fetch-based model providers (Anthropic, OpenAI):
 * one JSON POST with a per-attempt timeout, retries with backoff for what may pass,
 * typed errors for what will not, and the API key kept out of everything recorded.
 *
 * Retrying here is deliberately short (a few attempts inside a small time budget): the
 * state machine retries a ModelUnavailableError again with its own, longer backoff, and
 * the model step may move to a fallback model. Sleeping for minutes inside one Lambda
 * invocation would only burn its timeout.
 */

export interface HttpCallSettings {
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** How long one attempt may take, headers and body. Default 120 s. */
  timeoutMs?: number;
  /** Attempts per call, the first included. Default 3. */
  maxAttempts?: number;
  /** No retry is started when its wait would end later than this after the first attempt began. Default 60 s. */
  retryBudgetMs?: number;
  /** Injected so tests do not wait for real backoff. */
  sleep?: (ms: number) => Promise<void>;
  clock?: Clock;
  /** In [0, 1): the jitter source. */
  random?: () => number;
}

export interface JsonPost<T> {
  /** `anthropic`, `openai`: named in every error. */
  provider: string;
  /** The model's name in models.yaml. */
  model: string;
  /** The provider's id for it. */
  modelId: string;
  url: string;
  /** Everything but content-type, which is always JSON. */
  headers: Record<string, string>;
  body: unknown;
  /** The shape a successful answer must have; anything else counts as malformed. */
  schema: z.ZodMiniType<T>;
  /**
   * The secret whose value is in the headers: its name is what a refusal names, its
   * value is redacted from everything this module returns or throws. Absent for a
   * keyless (local, OpenAI-compatible) server.
   */
  secret?: { name: string; value: string };
  /**
   * The provider's own signal that the prompt is longer than the model's context window,
   * read from a 4xx answer: the call then throws ContextTooLongError (the model step compacts).
   */
  contextTooLong?: (refusal: ProviderRefusal) => boolean;
}

/** A 4xx answer as far as it can be read: Anthropic and OpenAI send `{ error: { type, code, message } }`. */
export interface ProviderRefusal {
  status: number;
  type?: string;
  code?: string;
  message?: string;
}

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_RETRY_BUDGET_MS = 60_000;
/** A 200 with a body we cannot read is retried once: the model may well answer properly, but each try is billed. */
const MALFORMED_RETRIES = 1;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 20_000;
/** Provider messages are quoted in errors, which end up in traces; keep them readable. */
const MAX_DETAIL_CHARS = 500;

/** Why an attempt failed in a way worth trying again. */
interface RetryableFailure {
  kind: 'status' | 'network' | 'timeout' | 'malformed';
  /** For the error message: `HTTP 503: overloaded`, `no answer within 120 s`. */
  detail: string;
  /** What the provider asked for (retry-after), when it did. */
  retryAfterMs?: number;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; failure: RetryableFailure };

export class HttpCaller {
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #retryBudgetMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #clock: Clock;
  readonly #random: () => number;

  constructor(settings: HttpCallSettings = {}) {
    // Looked up at call time, not bound now, so a test or a polyfill that replaces the global still applies.
    this.#fetch = settings.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxAttempts = Math.max(1, settings.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.#retryBudgetMs = settings.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;
    this.#sleep = settings.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#clock = settings.clock ?? systemClock;
    this.#random = settings.random ?? Math.random;
  }

  /**
   * POSTs `request.body` as JSON and returns the answer parsed by `request.schema`.
   * Throws ModelUnavailableError once retries are spent (or would outlast the budget),
   * ConfigurationError for a refusal that no retry can fix.
   */
  async postJson<T>(request: JsonPost<T>): Promise<T> {
    const label = modelLabel(request);
    const started = this.#now();
    let malformed = 0;
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.#attempt(request, label);
      if (outcome.ok) return outcome.value;

      const { failure } = outcome;
      if (failure.kind === 'malformed') malformed += 1;
      const giveUp = (why: string) =>
        new ModelUnavailableError(
          `${label} is unavailable: ${failure.detail} (${attempt} ${attempt === 1 ? 'attempt' : 'attempts'}${why})`,
        );

      if (attempt >= this.#maxAttempts) throw giveUp('');
      if (failure.kind === 'malformed' && malformed > MALFORMED_RETRIES) throw giveUp('');
      const delay = failure.retryAfterMs ?? this.#backoff(attempt);
      const elapsed = this.#now() - started;
      if (elapsed + delay > this.#retryBudgetMs) {
        const asked =
          failure.retryAfterMs !== undefined
            ? `the provider asked to wait ${seconds(delay)}`
            : `the next retry in ${seconds(delay)}`;
        throw giveUp(`; ${asked}, past the ${seconds(this.#retryBudgetMs)} retry budget`);
      }
      await this.#sleep(delay);
    }
  }

  async #attempt<T>(request: JsonPost<T>, label: string): Promise<Attempt<T>> {
    // The key in every form a provider may quote it in (JSON `\/` and `\u00XX` escapes, URL, base64).
    const clean = knownValueRedactor(request.secret ? [request.secret.value] : []).redact;

    let status: number;
    let headers: Headers;
    let text: string;
    try {
      // One signal covers the headers and the body: a server that stalls mid-body is as stuck as one that never answers.
      const response = await this.#fetch(request.url, {
        method: 'POST',
        headers: { ...request.headers, 'content-type': 'application/json' },
        body: JSON.stringify(request.body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      status = response.status;
      headers = response.headers;
      text = clean(await response.text());
    } catch (error) {
      if (isTimeout(error)) return retry('timeout', `no answer within ${seconds(this.#timeoutMs)}`);
      return retry('network', `could not reach ${request.url}: ${clean(networkDetail(error))}`);
    }

    if (status >= 200 && status < 300) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return retry('malformed', `answered with malformed JSON (HTTP ${status}): ${clip(text)}`);
      }
      const parsed = request.schema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
        return retry(
          'malformed',
          `answered with malformed JSON (HTTP ${status}, not the documented shape; ${where}${issue?.message ?? 'invalid'})`,
        );
      }
      return { ok: true, value: parsed.data };
    }

    // Redacted again after decoding: the provider's message is read out of the JSON body.
    const detail = clean(`HTTP ${status}${providerMessage(text)}`);
    if (status === 401 || status === 403) {
      if (request.secret) {
        throw new ConfigurationError(`${label}: the key in secret "${request.secret.name}" was refused (${detail})`);
      }
      throw new ConfigurationError(
        `${label}: ${request.url} refused the request (${detail}); the model declares no secret, so no key was sent. Add secret: <name> to it in models.yaml if the server needs one`,
      );
    }
    if (status === 408 || status === 409 || status === 429 || status >= 500) {
      return retry('status', detail, retryAfterMs(headers, this.#now()));
    }
    if (request.contextTooLong?.({ status, ...refusalOf(text) })) {
      throw new ContextTooLongError(`${label}: the prompt is longer than the model's context window (${detail})`);
    }
    // 400, 404, 422 and the rest of 4xx: the request, the model id or the account needs a person.
    throw new ConfigurationError(`${label}: the request was refused (${detail})`);

    function retry(kind: RetryableFailure['kind'], failureDetail: string, after?: number): Attempt<T> {
      return { ok: false, failure: { kind, detail: failureDetail, retryAfterMs: after } };
    }
  }

  /** Exponential backoff with full jitter: anywhere between 0 and base·2^(n-1), capped. */
  #backoff(attempt: number): number {
    return Math.round(this.#random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
  }

  #now(): number {
    return this.#clock.now().getTime();
  }
}

/** `anthropic model claude (claude-sonnet-4-5)`: how every error names the model. */
function modelLabel(request: { provider: string; model: string; modelId: string }): string {
  const id = request.modelId !== request.model ? ` (${request.modelId})` : '';
  return `${request.provider} model ${request.model}${id}`;
}

/**
 * What the provider said went wrong, from an error body already redacted. Anthropic
 * and OpenAI both answer `{ error: { type, message } }`; compatible servers vary, so
 * a few other common shapes are read too, and anything else is quoted, clipped.
 */
function providerMessage(text: string): string {
  if (text.trim() === '') return '';
  const refusal = refusalOf(text);
  const { message } = refusal;
  if (message === undefined) return `: ${clip(text)}`;
  const type = refusal.type ?? refusal.code;
  return `: ${clip(type && !message.startsWith(type) ? `${type}: ${message}` : message)}`;
}

/** The error's message, type and code, from the shapes providerMessage reads. */
function refusalOf(text: string): Omit<ProviderRefusal, 'status'> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  const record = asRecord(body);
  const error = asRecord(record?.['error']);
  return {
    message: firstString(error?.['message'], record?.['message'], record?.['detail'], record?.['error']),
    type: firstString(error?.['type']),
    code: firstString(error?.['code']),
  };
}

/**
 * The wait the provider asked for: `retry-after-ms` (OpenAI), else `retry-after` in
 * seconds or as an HTTP date. Undefined when absent or unreadable (then we back off).
 */
export function retryAfterMs(headers: Headers, nowMs: number): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

function isTimeout(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND) is in its cause. */
function networkDetail(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function firstString(...values: unknown[]): string | undefined {
  return values.find((value): value is string => typeof value === 'string' && value.length > 0);
}

function clip(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_DETAIL_CHARS ? `${flat.slice(0, MAX_DETAIL_CHARS)}…` : flat;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * Reads an API key by name for one call. The store does the caching (Secrets Manager
 * values live a few minutes), so a rotated key is picked up without a restart. A
 * missing secret throws the store's SecretNotFoundError, which names it.
 */
export async function readApiKey(secrets: SecretStore, name: string): Promise<{ name: string; value: string }> {
  // Trimmed: a key pasted into a file or a variable often carries a newline, which no header may hold.
  const value = (await secrets.get(name)).trim();
  if (value === '') throw new ConfigurationError(`secret "${name}" is empty; it should hold the provider's API key`);
  return { name, value };
}
