import { z } from 'zod';
import { ConfigurationError } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { FinishedRun, RunTelemetry } from '../../core/ports/telemetry.ts';
import { otlpRequest } from './spans.ts';

/**
 * The RunTelemetry port over OTLP/HTTP with JSON bodies (what every OpenTelemetry
 * collector and most vendors accept at `/v1/traces`). Configured by the standard
 * variables, checked once: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as it is) or
 * OTEL_EXPORTER_OTLP_ENDPOINT (plus `/v1/traces`), OTEL_SERVICE_NAME. Auth headers are a
 * secret, so they are never an environment value: LOOPRAIL_OTLP_HEADERS_SECRET_NAME names a
 * secret holding `name=value,name2=value2`, read at the first export.
 */

const HttpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

export const OtlpEnv = z.object({
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: HttpUrl.optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: HttpUrl.optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(128).default('looprail'),
  LOOPRAIL_OTLP_HEADERS_SECRET_NAME: z.string().regex(/^[\w/+=.@-]{1,512}$/, 'expected a secret name').optional(),
  LOOPRAIL_OTLP_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(5_000),
});

export interface OtlpConfig {
  /** The full traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. */
  url: string;
  serviceName: string;
  headersSecret?: string;
  timeoutMs: number;
}

/** The exporter's settings from the environment; undefined when no endpoint is set. A bad value throws, naming the variable. */
export function otlpConfigFromEnv(env: Record<string, string | undefined>): OtlpConfig | undefined {
  const parsed = OtlpEnv.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigurationError(`${issue.path.join('.')}: ${issue.message}`);
  }
  const value = parsed.data;
  const url = value.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (value.OTEL_EXPORTER_OTLP_ENDPOINT ? `${value.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url) return undefined;
  return { url, serviceName: value.OTEL_SERVICE_NAME, headersSecret: value.LOOPRAIL_OTLP_HEADERS_SECRET_NAME, timeoutMs: value.LOOPRAIL_OTLP_TIMEOUT_MS };
}

/** `name=value,name2=value2` (the OTEL_EXPORTER_OTLP_HEADERS format, values percent-decoded). */
export function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const name = at > 0 ? pair.slice(0, at).trim() : '';
    if (!/^[!#$%&'*+.^_`|~\w-]+$/.test(name)) throw new ConfigurationError('the OTLP headers secret must be name=value pairs separated by commas');
    headers[name.toLowerCase()] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

export class OtlpHttpExporter implements RunTelemetry {
  readonly #config: OtlpConfig;
  readonly #secrets: SecretStore | undefined;
  readonly #fetch: typeof fetch;
  #headers: Promise<Record<string, string>> | undefined;

  constructor(config: OtlpConfig, options: { secrets?: SecretStore; fetch?: typeof fetch } = {}) {
    this.#config = config;
    this.#secrets = options.secrets;
    this.#fetch = options.fetch ?? fetch;
  }

  async exportRun(run: FinishedRun): Promise<void> {
    const body = JSON.stringify(otlpRequest(run, this.#config.serviceName, '1'));
    const response = await this.#fetch(this.#config.url, {
      method: 'POST',
      headers: { ...(await this.#authHeaders()), 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(this.#config.timeoutMs),
    });
    // The body of a refusal may echo what was sent; the status says enough.
    await response.body?.cancel();
    if (!response.ok) throw new Error(`the OTLP endpoint answered ${response.status} to the spans of run ${run.meta.runId}`);
  }

  #authHeaders(): Promise<Record<string, string>> {
    const name = this.#config.headersSecret;
    if (!name) return Promise.resolve({});
    if (!this.#secrets) return Promise.reject(new ConfigurationError('LOOPRAIL_OTLP_HEADERS_SECRET_NAME is set but this host has no secret store'));
    // Read once per container; a failed read is tried again at the next export.
    this.#headers ??= this.#secrets.get(name).then(parseHeaders, (error: unknown) => {
      this.#headers = undefined;
      throw error;
    });
    return this.#headers;
  }
}
