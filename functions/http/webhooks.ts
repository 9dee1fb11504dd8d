import { canonicalJson } from '../../core/definitions/hash.ts';
import { errorMessage, NotFoundError, SecretNotFoundError, ValidationError } from '../../core/errors.ts';
import {
  verifyWebhookSignature,
  WEBHOOK_HEADERS,
  webhookFacts,
  webhookFilterMatches,
} from '../../core/policy/webhook-signature.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import { jsonShapeProblem, jsonTextDepthProblem, RUN_INPUT_LIMITS } from '../../core/limits/json-shape.ts';
import { MAX_INPUT_BYTES } from '../../core/run/request-run.ts';
import { startRun, type TriggerDeps } from '../../core/run/trigger.ts';
import { webhookRunRequest } from '../../core/run/triggers-map.ts';
import type { HttpRequest, HttpResponse } from './types.ts';

/**
 * `POST /webhooks/:agent`: a signed delivery starts a run of that agent.
 *
 * In order, and nothing is stored or started before the signature is verified:
 * 404 unknown agent or no `trigger.webhook` · 413 body over 1 MB · 401 bad, missing or
 * stale signature · 400 no delivery id, a body that is not JSON or nests deeper than a run's
 * input may · 202 `{ started: false, reason }` for a delivery the filter (or a paused agent)
 * does not take · 413 a payload over the run input's 32 KB · 400 a payload over another of
 * the run input's shape limits (RUN_INPUT_LIMITS: keys, entries, string length) · 409 a
 * delivery id reused for a different payload · 200 `{ runId, duplicate: true }` for a
 * redelivery · 202 `{ runId }` for a new run.
 */

export interface WebhookOptions {
  /** Where the webhook's HMAC key is read, by the name in `trigger.webhook.secret`. */
  secrets: SecretStore;
  /** Default 1 MB. */
  maxBodyBytes?: number;
}

export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

export async function handleWebhook(
  deps: TriggerDeps,
  agent: string,
  request: HttpRequest,
  options: WebhookOptions,
): Promise<HttpResponse> {
  const catalog = await deps.catalog();
  const entry = Object.hasOwn(catalog.agents, agent) ? catalog.agents[agent] : undefined;
  const webhook = entry?.trigger?.webhook;
  // The same answer for both: a caller cannot probe which agents exist.
  if (!entry || !webhook) return json(404, { error: 'not_found', reason: `no webhook for agent "${agent}"` });

  const maxBody = options.maxBodyBytes ?? MAX_WEBHOOK_BODY_BYTES;
  if (request.rawBody.length > maxBody) {
    return json(413, {
      error: 'payload_too_large',
      reason: `the body is ${request.rawBody.length} bytes; webhooks take at most ${maxBody}`,
    });
  }

  let secret: string;
  try {
    secret = await options.secrets.get(webhook.secret);
  } catch (error) {
    // Logged with the secret's name (never a value); the caller only learns it is not set up.
    deps.log.error('webhook secret unavailable', {
      agent,
      secret: webhook.secret,
      error: (error as Error).name,
      message: errorMessage(error),
    });
    const status = error instanceof SecretNotFoundError ? 500 : 503;
    return json(status, {
      error: 'not_configured',
      reason: 'the webhook secret could not be read; nothing was started',
    });
  }

  const verified = verifyWebhookSignature({
    scheme: webhook.scheme,
    secret,
    headers: request.headers,
    rawBody: request.rawBody,
    now: deps.clock.now(),
  });
  if (!verified.ok) {
    deps.log.warn('webhook refused', { agent, status: verified.status, reason: verified.reason });
    return json(verified.status, { error: 'unauthorized', reason: verified.reason });
  }

  const github = webhook.scheme === 'github';
  const deliveryId = request.headers[github ? WEBHOOK_HEADERS.githubDelivery : WEBHOOK_HEADERS.delivery]?.trim();
  const event = request.headers[github ? WEBHOOK_HEADERS.githubEvent : WEBHOOK_HEADERS.event]?.trim() || undefined;
  if (!deliveryId) {
    const header = github ? 'X-GitHub-Delivery' : 'X-Looprail-Delivery';
    return json(400, {
      error: 'bad_request',
      reason: `the ${header} header is missing: it names the delivery, so a redelivery never starts a second run`,
    });
  }
  if (!/^[\x21-\x7e]{1,200}$/.test(deliveryId)) {
    return json(400, { error: 'bad_request', reason: 'the delivery id must be 1-200 printable ASCII characters' });
  }

  if (!entry.spec.enabled) return json(202, { started: false, reason: `agent "${agent}" is paused (enabled: false)` });

  const body = parseBody(request);
  if (!body.ok) return json(400, { error: 'bad_request', reason: body.reason });

  const filtered = webhookFilterMatches(webhook.filter, webhookFacts(event, body.value));
  if (!filtered.ok) {
    deps.log.info('webhook filtered', { agent, deliveryId, event, reason: filtered.reason });
    return json(202, { started: false, reason: filtered.reason });
  }

  // The whole payload is the run's input, and inputs live on the run record (32 KB). A
  // larger payload could later be stored apart (by reference) and the run given its key.
  const shape = jsonShapeProblem(body.value, RUN_INPUT_LIMITS, 'payload');
  const inputBytes = shape ? Buffer.byteLength(JSON.stringify(body.value)) : 0;
  if (inputBytes > MAX_INPUT_BYTES) {
    return json(413, {
      error: 'payload_too_large',
      reason: `the payload is ${inputBytes} bytes as run input; a run's input is limited to ${MAX_INPUT_BYTES} bytes (narrow the delivery with the sender's event selection or a filter)`,
    });
  }
  if (shape) return json(400, { error: 'bad_request', reason: `as a run's input, the ${shape.message}` });

  const runRequest = webhookRunRequest({ agent, event, deliveryId, body: body.value });
  try {
    const { runId, created, meta } = await startRun(deps, runRequest);
    if (created) {
      deps.log.info('webhook started a run', { agent, deliveryId, event, runId });
      return json(202, { runId });
    }
    // The same delivery id must mean the same delivery: a different payload under a used id is refused.
    if (canonicalJson(meta.input) !== canonicalJson(body.value)) {
      deps.log.warn('webhook delivery id reused', { agent, deliveryId, runId });
      return json(409, {
        error: 'conflict',
        reason: `delivery ${deliveryId} was already received with a different payload`,
      });
    }
    deps.log.info('webhook redelivered', { agent, deliveryId, runId, status: meta.status });
    // A run still queued had a start that failed before; startRun started it again just now.
    if (meta.status === 'queued') return json(202, { runId, duplicate: true, restarted: true });
    return json(200, { runId, duplicate: true });
  } catch (error) {
    if (error instanceof ValidationError) return json(422, { error: 'unprocessable', reason: error.message });
    if (error instanceof NotFoundError) return json(404, { error: 'not_found', reason: error.message });
    // The run may be recorded as queued: the sender's redelivery (same id) starts it again.
    deps.log.error('webhook could not start a run', {
      agent,
      deliveryId,
      error: (error as Error).name,
      message: errorMessage(error),
    });
    return json(503, { error: 'unavailable', reason: 'the run could not be started; redeliver to try again' });
  }
}

type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

/** JSON, or GitHub's `application/x-www-form-urlencoded` form with the JSON in `payload`. */
function parseBody(request: HttpRequest): Parsed {
  const text = request.rawBody.toString('utf8');
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  let json = text;
  if (type === 'application/x-www-form-urlencoded') {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) return { ok: false, reason: 'a form-encoded delivery needs its JSON in the "payload" field' };
    json = payload;
  }
  // The depth first, on the text: nothing deeper than a run's input may be is ever built.
  const deep = jsonTextDepthProblem(json, RUN_INPUT_LIMITS.maxDepth, 'payload');
  if (deep) return { ok: false, reason: deep.message };
  try {
    return { ok: true, value: JSON.parse(json) as unknown };
  } catch {
    // Not JSON.parse's message: it quotes the body.
    return { ok: false, reason: 'the body is not JSON' };
  }
}

function json(status: number, body: Record<string, unknown>): HttpResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body) };
}
