import { onFirstUse } from '../../adapters/aws/on-first-use.ts';
import { type OtlpConfig, otlpConfigFromEnv } from '../../adapters/otel/otlp-config.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { FinishedRun, RunTelemetry } from '../../core/ports/telemetry.ts';
import type { TelemetryExport } from './runtime.ts';

/**
 * Finished runs exported as OpenTelemetry traces over OTLP/HTTP, when the function's
 * environment names a collector. Only the steps that close runs pass this to lambdaDeps
 * (FinishRun, FailRun: the stack gives the OTLP settings to them alone), so the
 * OpenTelemetry packages stay out of every other bundle. Checked at init: a bad OTLP
 * setting fails the container's start with the variable's name. The exporter itself is
 * evaluated at the first export, so a stack with no collector never evaluates it.
 */
export const OTLP_EXPORT: TelemetryExport = (env, secrets) => {
  const otlp = otlpConfigFromEnv(env);
  if (!otlp) return undefined;
  return new FirstUseOtlpExporter(otlp, secrets);
};

/** The OTLP exporter (adapters/otel/otlp-http.ts), loaded and made at the first export. */
class FirstUseOtlpExporter implements RunTelemetry {
  readonly #exporter: () => Promise<RunTelemetry>;

  constructor(otlp: OtlpConfig, secrets: () => SecretStore) {
    this.#exporter = onFirstUse(async () => {
      const { OtlpHttpExporter } = await import('../../adapters/otel/otlp-http.ts');
      return new OtlpHttpExporter(otlp, { secrets: secrets() });
    });
  }

  async exportRun(run: FinishedRun): Promise<void> {
    return (await this.#exporter()).exportRun(run);
  }
}
