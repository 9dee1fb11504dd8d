import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ConfigurationError } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { FinishedRun, RunTelemetry } from '../../core/ports/telemetry.ts';
import { type OtlpConfig, parseHeaders } from './otlp-config.ts';
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
