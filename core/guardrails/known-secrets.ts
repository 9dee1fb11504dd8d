import type { SecretStore } from '../ports/secrets.ts';
import { type KnownValueRedactor, knownValueRedactor } from './redact-known.ts';

/**
 * Every secret value this process has read, so one redactor knows them all: the
 * composition root reads secrets only through `recordingSecrets`, and every sink is
 * redacted with `redactor()` (see core/run/redacting-deps.ts). A secret the runtime never
 * read (a server's own environment, a key baked into a tool) is out of its reach.
 */
export class KnownSecrets {
  readonly #values = new Set<string>();
  #redactor: KnownValueRedactor | undefined;

  /** Adds a value; the redactor is compiled again on next use only when the set changed. */
  remember(value: string): void {
    if (this.#values.has(value)) return;
    this.#values.add(value);
    this.#redactor = undefined;
  }

  redactor(): KnownValueRedactor {
    this.#redactor ??= knownValueRedactor([...this.#values]);
    return this.#redactor;
  }

  redact(text: string): string {
    return this.redactor().redact(text);
  }

  redactDeep<T>(value: T): T {
    return this.redactor().redactDeep(value);
  }

  /** `error` with its message redacted: the same object when nothing was found, else a copy of the same kind and name. */
  redactError(error: unknown): unknown {
    if (!(error instanceof Error)) return typeof error === 'string' ? this.redact(error) : error;
    const message = this.redact(error.message);
    if (message === error.message) return error;
    const copy = Object.create(Object.getPrototypeOf(error) as object) as Error;
    for (const key of Object.getOwnPropertyNames(error)) {
      if (key !== 'stack') Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(error, key)!);
    }
    copy.message = message;
    copy.name = error.name;
    copy.stack = `${error.name}: ${message}`;
    return copy;
  }
}

/** `store` as is, remembering each value it returns in `known`. */
export function recordingSecrets(store: SecretStore, known: KnownSecrets): SecretStore {
  return {
    async get(name) {
      const value = await store.get(name);
      known.remember(value);
      return value;
    },
  };
}
