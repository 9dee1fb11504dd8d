import { describe, expect, it } from 'vitest';
import { onFirstUse } from '../../adapters/aws/on-first-use.ts';

describe('onFirstUse (SDK clients made when first needed)', () => {
  it('makes the value once, on the first call, and shares it between concurrent callers', async () => {
    let made = 0;
    const client = onFirstUse(async () => ({ id: ++made }));
    expect(made).toBe(0);
    const [a, b] = await Promise.all([client(), client()]);
    expect(a).toBe(b);
    expect(await client()).toBe(a);
    expect(made).toBe(1);
  });

  it('uses a given value without making one', async () => {
    const given = { id: 'given' };
    const client = onFirstUse<{ id: string }>(() => Promise.reject(new Error('must not be made')), given);
    expect(await client()).toBe(given);
  });

  it('does not remember a failed import: the next caller tries again', async () => {
    let attempts = 0;
    const client = onFirstUse(async () => {
      attempts += 1;
      if (attempts === 1) throw new Error("Cannot find package '@aws-sdk/client-sfn'");
      return { id: attempts };
    });
    await expect(client()).rejects.toThrow("Cannot find package '@aws-sdk/client-sfn'");
    expect(await client()).toEqual({ id: 2 });
  });
});
