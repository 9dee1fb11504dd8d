import { OtlpHttpExporter, otlpConfigFromEnv } from '../../adapters/otel/otlp-http.ts';
import type { TelemetryExport } from './runtime.ts';

/**
 * Finished runs exported as OpenTelemetry traces over OTLP/HTTP, when the function's
 * environment names a collector. Only the steps that close runs pass this to lambdaDeps
 * (FinishRun, FailRun: the stack gives the OTLP settings to them alone), so the
 * OpenTelemetry packages stay out of every other bundle. Checked at init: a bad OTLP
 * setting fails the container's start with the variable's name.
 */
export const OTLP_EXPORT: TelemetryExport = (env, secrets) => {
  const otlp = otlpConfigFromEnv(env);
  return otlp ? new OtlpHttpExporter(otlp, { secrets: secrets() }) : undefined;
};
