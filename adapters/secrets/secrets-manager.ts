import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { onFirstUse } from '../aws/on-first-use.ts';
import { ConfigurationError, SecretNotFoundError, TransientError } from '../../core/errors.ts';
import { systemClock } from '../../core/ports/clock.ts';
import type { Clock } from '../../core/ports/clock.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';

/**
 * Secrets from AWS Secrets Manager, by name. Values are cached in memory for a few
 * minutes: a warm Lambda resolves the same secrets on every step, and Secrets Manager
 * bills and throttles per call. A rotated secret is picked up when its entry expires.
 */

export interface SecretsManagerStoreOptions {
  /** Defaults to a client for the ambient region and credentials, made on first use. */
  client?: SecretsManagerClient;
  /** The credentials of the client made on first use (an agent's role); default: the function's own. */
  credentials?: AwsCredentialIdentityProvider;
  /** How long a value is reused. Default 5 minutes. */
  ttlMs?: number;
  clock?: Clock;
}

const DEFAULT_TTL_MS = 5 * 60_000;

/** Errors worth retrying: the same request may well succeed in a moment. */
const TRANSIENT_ERRORS = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'InternalServiceError',
  'RequestTimeout',
  'TimeoutError',
]);
/** Errors that need a person: permissions, KMS, a malformed name. */
const CONFIGURATION_ERRORS = new Set([
  'AccessDeniedException',
  'DecryptionFailure',
  'InvalidRequestException',
  'InvalidParameterException',
  'UnrecognizedClientException',
]);

interface CacheEntry {
  value: string;
  expiresAt: number;
}

export class SecretsManagerStore implements SecretStore {
  readonly #client: () => Promise<SecretsManagerClient>;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  readonly #cache = new Map<string, CacheEntry>();
  /** One request per name at a time, however many callers ask at once. */
  readonly #inFlight = new Map<string, Promise<string>>();

  constructor(options: SecretsManagerStoreOptions = {}) {
    const { credentials } = options;
    this.#client = onFirstUse(
      async () => new (await import('@aws-sdk/client-secrets-manager')).SecretsManagerClient({ credentials }),
      options.client,
    );
    this.#ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.#clock = options.clock ?? systemClock;
  }

  async get(name: string): Promise<string> {
    const cached = this.#cache.get(name);
    if (cached && this.#now() < cached.expiresAt) return cached.value;

    let pending = this.#inFlight.get(name);
    if (!pending) {
      pending = this.#fetch(name).finally(() => this.#inFlight.delete(name));
      this.#inFlight.set(name, pending);
    }
    return pending;
  }

  async #fetch(name: string): Promise<string> {
    let output;
    try {
      const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
      output = await (await this.#client()).send(new GetSecretValueCommand({ SecretId: name }));
    } catch (error) {
      throw translateError(name, error);
    }
    const value =
      output.SecretString ?? (output.SecretBinary ? Buffer.from(output.SecretBinary).toString('utf8') : undefined);
    if (value === undefined) {
      throw new ConfigurationError(`secret "${name}" in AWS Secrets Manager has no value`);
    }
    this.#cache.set(name, { value, expiresAt: this.#now() + this.#ttlMs });
    return value;
  }

  #now(): number {
    return this.#clock.now().getTime();
  }
}

/** Maps an SDK error to the typed errors the state machine understands. Messages never carry values. */
function translateError(name: string, error: unknown): Error {
  const awsName = (error as { name?: string } | undefined)?.name ?? 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  const detail = error instanceof Error ? `${awsName}: ${error.message}` : String(error);

  if (awsName === 'ResourceNotFoundException') {
    return new SecretNotFoundError(`secret "${name}" not found in AWS Secrets Manager`);
  }
  if (CONFIGURATION_ERRORS.has(awsName)) {
    return new ConfigurationError(`cannot read secret "${name}" from AWS Secrets Manager: ${detail}`);
  }
  // No HTTP status at all means the request never got an answer (DNS, refused, reset).
  if (TRANSIENT_ERRORS.has(awsName) || status === undefined || status >= 500) {
    return new TransientError(`reading secret "${name}" from AWS Secrets Manager failed, worth retrying: ${detail}`);
  }
  return error instanceof Error ? error : new Error(detail);
}
