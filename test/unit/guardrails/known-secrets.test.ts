import { describe, expect, it } from 'vitest';
import { KnownSecrets, recordingSecrets } from '../../../core/guardrails/known-secrets.ts';
import { ConfigurationError, SecretNotFoundError } from '../../../core/errors.ts';

describe('KnownSecrets', () => {
  const secret = 'sk-"quoted"\\value/1';

  it('redacts every value read through the recording store, in its escaped forms too', async () => {
    const known = new KnownSecrets();
    const store = recordingSecrets({ get: async (name) => (name === 'key' ? `${secret}\n` : 'unused') }, known);
    expect(known.redact(JSON.stringify({ secret }))).toBe(JSON.stringify({ secret }));
    expect(await store.get('key')).toBe(`${secret}\n`);
    expect(known.redact(JSON.stringify({ secret }))).toBe('{"secret":"[redacted]"}');
    expect(known.redactDeep({ list: [`x ${encodeURIComponent(secret)} y`] })).toEqual({ list: ['x [redacted] y'] });
  });

  it('passes a missing secret on as the store said it, remembering nothing', async () => {
    const known = new KnownSecrets();
    const store = recordingSecrets(
      {
        get: async (name) => {
          throw new SecretNotFoundError(`secret "${name}" not found`);
        },
      },
      known,
    );
    await expect(store.get('absent')).rejects.toThrow('secret "absent" not found');
    expect(known.redact('absent-value-text')).toBe('absent-value-text');
  });

  it('redacts an error message keeping the error kind and name, and returns an error without a secret as is', () => {
    const known = new KnownSecrets();
    known.remember(secret);
    const error = new ConfigurationError(`refused: ${JSON.stringify(secret)}`);
    const redacted = known.redactError(error) as Error;
    expect(redacted).toBeInstanceOf(ConfigurationError);
    expect(redacted.name).toBe(error.name);
    expect(redacted.message).toBe('refused: "[redacted]"');
    expect(redacted.stack).not.toContain(secret);
    const clean = new Error('nothing here');
    expect(known.redactError(clean)).toBe(clean);
    expect(known.redactError(`text ${secret}`)).toBe('text [redacted]');
  });
});
