import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigurationError, SecretNotFoundError } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';

/**
 * Secrets for the local host: a JSON file of `{ "name": "value" }` plus environment
 * variables `LOOPRAIL_SECRET_<NAME>`, the environment winning so a value can be
 * overridden for one run without editing the file. The environment is passed in so the
 * core never reads process.env itself.
 */

export interface LocalSecretStoreOptions {
  /** A JSON object of name → value. A missing file is an empty store. */
  file?: string;
  env?: Record<string, string | undefined>;
}

const ENV_PREFIX = 'LOOPRAIL_SECRET_';

/** `github/token` → `LOOPRAIL_SECRET_GITHUB_TOKEN`. */
export function secretEnvName(name: string): string {
  return ENV_PREFIX + name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export class LocalSecretStore implements SecretStore {
  readonly #file: string | undefined;
  readonly #env: Record<string, string | undefined>;

  constructor(options: LocalSecretStoreOptions = {}) {
    this.#file = options.file;
    this.#env = options.env ?? {};
  }

  async get(name: string): Promise<string> {
    const variable = secretEnvName(name);
    const fromEnv = this.#env[variable];
    // An empty variable counts as unset: `export X=` is how people blank a value.
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;

    const fromFile = (await this.#readFile())[name];
    if (fromFile !== undefined) return fromFile;

    const places = [`the environment variable ${variable}`];
    if (this.#file !== undefined) places.push(`the secrets file ${this.#file}`);
    throw new SecretNotFoundError(`secret "${name}" not found; looked in ${places.join(' and ')}`);
  }

  /** Read on every lookup so edits to the file apply without a restart; the file is small. */
  async #readFile(): Promise<Record<string, string>> {
    return this.#file === undefined ? {} : readSecretsFile(this.#file);
  }
}

/** The secrets file's `{ "name": "value" }`; a missing file is empty. Errors never quote a value. */
export async function readSecretsFile(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigurationError(
      `cannot read the secrets file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON.parse's message: it quotes the text around the error, which holds values.
    throw new ConfigurationError(`the secrets file ${file} is not valid JSON; expected { "name": "value" }`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigurationError(`the secrets file ${file} must hold a JSON object: { "name": "value" }`);
  }
  const secrets: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') throw new ConfigurationError(`secret "${key}" in ${file} must be a string`);
    secrets[key] = value;
  }
  return secrets;
}

/**
 * Sets one secret in the secrets file, keeping the others: written to a file only its owner
 * can read (0600, in a folder made 0700 if new) and renamed into place, so a reader never
 * sees half a file.
 */
export async function setLocalSecret(file: string, name: string, value: string): Promise<void> {
  const secrets = await readSecretsFile(file);
  secrets[name] = value;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
}
