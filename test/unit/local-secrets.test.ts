import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSecretStore, secretEnvName } from '../../adapters/secrets/local-secrets.ts';
import { ConfigurationError, SecretNotFoundError } from '../../core/errors.ts';

describe('LocalSecretStore', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'looprail-secrets-'));
    file = join(dir, 'secrets.json');
    await writeFile(file, JSON.stringify({ 'github/token': 'from-file-gh', 'anthropic-key': 'from-file-anthropic' }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('derives the environment variable name from the secret name', () => {
    expect(secretEnvName('github/token')).toBe('LOOPRAIL_SECRET_GITHUB_TOKEN');
    expect(secretEnvName('anthropic-key')).toBe('LOOPRAIL_SECRET_ANTHROPIC_KEY');
    expect(secretEnvName('a.b@c+d=e')).toBe('LOOPRAIL_SECRET_A_B_C_D_E');
  });

  it('reads values from the file', async () => {
    const store = new LocalSecretStore({ file });
    expect(await store.get('github/token')).toBe('from-file-gh');
    expect(await store.get('anthropic-key')).toBe('from-file-anthropic');
  });

  it('lets the environment win over the file, and ignores empty variables', async () => {
    const store = new LocalSecretStore({
      file,
      env: { LOOPRAIL_SECRET_GITHUB_TOKEN: 'from-env-gh', LOOPRAIL_SECRET_ANTHROPIC_KEY: '' },
    });
    expect(await store.get('github/token')).toBe('from-env-gh');
    expect(await store.get('anthropic-key')).toBe('from-file-anthropic');
  });

  it('treats a missing file as an empty store', async () => {
    const store = new LocalSecretStore({
      file: join(dir, 'nope.json'),
      env: { LOOPRAIL_SECRET_ONLY_ENV: 'env-value' },
    });
    expect(await store.get('only-env')).toBe('env-value');
    await expect(store.get('github/token')).rejects.toBeInstanceOf(SecretNotFoundError);
  });

  it('names the secret and where it looked, never a value', async () => {
    const store = new LocalSecretStore({ file, env: { LOOPRAIL_SECRET_GITHUB_TOKEN: 'from-env-gh' } });
    const error = await store.get('slack-webhook').catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect((error as Error).message).toBe(
      `secret "slack-webhook" not found; looked in the environment variable LOOPRAIL_SECRET_SLACK_WEBHOOK and the secrets file ${file}`,
    );
    for (const value of ['from-env-gh', 'from-file-gh', 'from-file-anthropic'])
      expect((error as Error).message).not.toContain(value);
  });

  it('works with neither a file nor an environment', async () => {
    await expect(new LocalSecretStore().get('x')).rejects.toThrow(
      'secret "x" not found; looked in the environment variable LOOPRAIL_SECRET_X',
    );
  });

  it('rejects a malformed file without quoting its content', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{ "token": hunter2-secret }');
    const error = await new LocalSecretStore({ file: bad }).get('token').catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).not.toContain('hunter2');

    const notStrings = join(dir, 'numbers.json');
    await writeFile(notStrings, '{ "port": 8080 }');
    await expect(new LocalSecretStore({ file: notStrings }).get('port')).rejects.toThrow('secret "port" in');
  });

  it('reads the file again on each lookup, so edits apply', async () => {
    const live = join(dir, 'live.json');
    await writeFile(live, '{ "k": "one" }');
    const store = new LocalSecretStore({ file: live });
    expect(await store.get('k')).toBe('one');
    await writeFile(live, '{ "k": "two" }');
    expect(await store.get('k')).toBe('two');
  });
});
