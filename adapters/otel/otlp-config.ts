import * as z from '../../core/definitions/zod.ts';
import { ConfigurationError } from '../../core/errors.ts';

// The OTLP settings, apart from the exporter (otlp-http.ts): a function checks them at init
// and loads the OpenTelemetry packages only at its first export.

const HttpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

export const OtlpEnv = z.object({
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.optional(HttpUrl),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.optional(HttpUrl),
  OTEL_SERVICE_NAME: z._default(z.string().check(z.minLength(1), z.maxLength(128)), 'looprail'),
  LOOPRAIL_OTLP_HEADERS_SECRET_NAME: z.optional(
    z.string().check(z.regex(/^[\w/+=.@-]{1,512}$/, 'expected a secret name')),
  ),
  LOOPRAIL_OTLP_TIMEOUT_MS: z._default(z.coerce.number().check(z.int(), z.minimum(100), z.maximum(30_000)), 5_000),
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
