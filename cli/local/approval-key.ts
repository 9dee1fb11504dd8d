import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SecretNotFoundError } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';

/**
 * Locally, the approval links' signing key is read like any secret (the secrets file or
 * LOOPRAIL_SECRET_*), and when none is set, one is generated once into `keyFile` (owner
 * read/write only) so links keep working across restarts of the dev server. On AWS it is a
 * Secrets Manager secret created by the stack.
 */
export function withLocalSigningKey(secrets: SecretStore, name: string, keyFile: string): SecretStore {
  let generated: Promise<string> | undefined;
  return {
    async get(wanted: string): Promise<string> {
      try {
        return await secrets.get(wanted);
      } catch (error) {
        if (wanted !== name || !(error instanceof SecretNotFoundError)) throw error;
        generated ??= readOrCreate(keyFile);
        return generated;
      }
    },
  };
}

async function readOrCreate(file: string): Promise<string> {
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing.length >= 32) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(file), { recursive: true });
  const key = randomBytes(32).toString('base64url');
  // `wx`: two hosts starting at once cannot both write; the loser reads the winner's key.
  try {
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await readFile(file, 'utf8')).trim();
  }
}
