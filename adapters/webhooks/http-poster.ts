import type { WebhookPoster } from '../../core/ports/webhooks.ts';

/**
 * Posts JSON (Slack-compatible bodies) to the webhook URLs definitions name, for budget
 * alerts and run notifications.
 *
 * A webhook URL is a credential: Slack's carry the token in the path, others in the
 * query. Errors therefore name only the URL's origin (scheme, host, port), never its path
 * or query, so a caller can log them as they are. Redirects are not followed (they would
 * re-send the body to wherever the answer points) and count as a failure, like any
 * answer outside 2xx.
 */

export interface HttpWebhookPosterOptions {
  /** For the whole exchange, connection to body. Default 5 s: a notification must not hold up a step. */
  timeoutMs?: number;
  /** For tests. */
  fetch?: typeof fetch;
}

export class WebhookDeliveryError extends Error {
  override name = 'looprail.WebhookDeliveryError';
  /** The HTTP status, when the webhook answered. */
  readonly status?: number;

  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

/** How an error may name the webhook: its origin only. */
export function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(an invalid URL)';
  }
}

export class HttpWebhookPoster implements WebhookPoster {
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: HttpWebhookPosterOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#fetch = options.fetch ?? fetch;
  }

  async post(url: string, body: Record<string, unknown>): Promise<void> {
    const origin = webhookOrigin(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new WebhookDeliveryError('the webhook URL is not a valid URL');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw new WebhookDeliveryError(`the webhook at ${origin} is not an http(s) URL`);

    const signal = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    try {
      response = await this.#fetch(parsed, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'looprail' },
        body: JSON.stringify(body),
        redirect: 'manual',
        signal,
      });
    } catch (error) {
      if (signal.aborted)
        throw new WebhookDeliveryError(`the webhook at ${origin} did not answer within ${this.#timeoutMs} ms`);
      throw new WebhookDeliveryError(`could not reach the webhook at ${origin}: ${causeOf(error)}`);
    }
    if (response.status >= 200 && response.status < 300) {
      await response.body?.cancel().catch(() => undefined);
      return;
    }
    // The answer's first words help (Slack says `invalid_payload`, `no_service`); they are the receiver's, not ours.
    const said = await response
      .text()
      .then((text) => text.replace(/\s+/g, ' ').trim().slice(0, 120))
      .catch(() => '');
    throw new WebhookDeliveryError(
      `the webhook at ${origin} answered ${response.status}${said ? `: ${said}` : ''}`,
      response.status,
    );
  }
}

/** fetch's "fetch failed" hides the reason in `cause` (ECONNREFUSED, ENOTFOUND…); the URL is not in it. */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}
