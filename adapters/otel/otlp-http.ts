import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import * as z from 'zod';
import { ConfigurationError } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { FinishedRun, RunTelemetry } from '../../core/ports/telemetry.ts';
import { type RunSpan, runSpans } from './spans.ts';

/**
 * The RunTelemetry port over OTLP/HTTP with JSON bodies (what every OpenTelemetry
 * collector and most vendors accept at `/v1/traces`), sent by the OpenTelemetry SDK's
 * exporter: it encodes the spans, and retries a 429/502/503/504 within the timeout.
 * Configured by the standard variables, checked once: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as it is) or
 * OTEL_EXPORTER_OTLP_ENDPOINT (plus `/v1/traces`), OTEL_SERVICE_NAME. Auth headers are a
 * secret, so they are never an environment value: LOOPRAIL_OTLP_HEADERS_SECRET_NAME names a
 * secret holding `name=value,name2=value2`, read at the first export.
 */

const HttpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

export const OtlpEnv = z.object({
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: HttpUrl.optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: HttpUrl.optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(128).default('looprail'),
  LOOPRAIL_OTLP_HEADERS_SECRET_NAME: z
    .string()
    .regex(/^[\w/+=.@-]{1,512}$/, 'expected a secret name')
    .optional(),
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
  const url =
    value.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (value.OTEL_EXPORTER_OTLP_ENDPOINT
      ? `${value.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`
      : undefined);
  if (!url) return undefined;
  return {
    url,
    serviceName: value.OTEL_SERVICE_NAME,
    headersSecret: value.LOOPRAIL_OTLP_HEADERS_SECRET_NAME,
    timeoutMs: value.LOOPRAIL_OTLP_TIMEOUT_MS,
  };
}

/** `name=value,name2=value2` (the OTEL_EXPORTER_OTLP_HEADERS format, values percent-decoded). */
export function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const name = at > 0 ? pair.slice(0, at).trim() : '';
    if (!/^[!#$%&'*+.^_`|~\w-]+$/.test(name))
      throw new ConfigurationError('the OTLP headers secret must be name=value pairs separated by commas');
    headers[name.toLowerCase()] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

/** What the SDK's exporter rejects with: an HTTP status in `code` when the endpoint answered. */
interface ExportFailure {
  code?: number;
  message?: string;
}

export class OtlpHttpExporter implements RunTelemetry {
  readonly #config: OtlpConfig;
  readonly #secrets: SecretStore | undefined;
  readonly #exporter: OTLPTraceExporter;
  #headers: Promise<Record<string, string>> | undefined;

  constructor(config: OtlpConfig, options: { secrets?: SecretStore } = {}) {
    this.#config = config;
    this.#secrets = options.secrets;
    // Headers are asked for at each export, so a secret is read at the first one, not at start.
    this.#exporter = new OTLPTraceExporter({
      url: config.url,
      timeoutMillis: config.timeoutMs,
      headers: () => this.#authHeaders(),
    });
  }

  async exportRun(run: FinishedRun): Promise<void> {
    // Read first: a missing secret store or secret fails this export with its own message.
    await this.#authHeaders();
    const spans = runSpans(run, this.#config.serviceName, '1');
    const error = await this.#export(spans);
    if (error === undefined) return;
    // The body of a refusal may echo what was sent; the status says enough.
    const reached = typeof error.code === 'number';
    const why = reached ? `answered ${error.code}` : `could not be reached (${error.message ?? 'no detail'})`;
    throw new Error(`the OTLP endpoint ${why} to the spans of run ${run.meta.runId}`);
  }

  #export(spans: RunSpan[]): Promise<ExportFailure | undefined> {
    return new Promise((resolve) => {
      this.#exporter.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) resolve(undefined);
        else resolve((result.error as ExportFailure | undefined) ?? {});
      });
    });
  }

  #authHeaders(): Promise<Record<string, string>> {
    const name = this.#config.headersSecret;
    if (!name) return Promise.resolve({});
    if (!this.#secrets)
      return Promise.reject(
        new ConfigurationError('LOOPRAIL_OTLP_HEADERS_SECRET_NAME is set but this host has no secret store'),
      );
    // Read once per container; a failed read is tried again at the next export.
    this.#headers ??= this.#secrets.get(name).then(parseHeaders, (error: unknown) => {
      this.#headers = undefined;
      throw error;
    });
    return this.#headers;
  }
}
