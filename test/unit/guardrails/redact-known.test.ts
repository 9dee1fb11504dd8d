import { describe, expect, it } from 'vitest';
import { knownValueRedactor, redactKnownValues, redactKnownValuesDeep } from '../../../core/guardrails/redact-known.ts';

describe('redactKnownValues', () => {
  const secret = 'hunter2-correct-horse';

  it('replaces every occurrence of each value', () => {
    expect(redactKnownValues(`a ${secret} b ${secret}`, [secret, 'other-secret-value'])).toBe(
      'a [redacted] b [redacted]',
    );
  });

  it('ignores values shorter than 8 characters, which would match ordinary text', () => {
    expect(redactKnownValues('the token is abc1234 and true', ['abc1234', 'true', ''])).toBe(
      'the token is abc1234 and true',
    );
    expect(redactKnownValues('the token is abc12345', ['abc12345'])).toBe('the token is [redacted]');
  });

  it('replaces a longer value whole when it contains a shorter one', () => {
    expect(redactKnownValues('key=prefix-12345678-suffix', ['12345678', 'prefix-12345678-suffix'])).toBe(
      'key=[redacted]',
    );
  });

  it('treats values literally, not as patterns', () => {
    expect(redactKnownValues('a.b*c+d?(e) and aXbbbc+d', ['a.b*c+d?(e)'])).toBe('[redacted] and aXbbbc+d');
  });

  it('finds values as they appear inside JSON text, and without a trailing newline', () => {
    const quoted = 'pa"ss\\word\nline2';
    expect(redactKnownValues(JSON.stringify({ password: quoted }), [quoted])).toBe('{"password":"[redacted]"}');
    expect(redactKnownValues(`token: ${secret}.`, [`${secret}\n`])).toBe('token: [redacted].');
  });

  it('redacts every string of a structured value, keys included, keeping its shape', () => {
    const value = { header: `Bearer ${secret}`, list: [secret, 1, null], [secret]: true };
    expect(redactKnownValuesDeep(value, [secret])).toEqual({
      header: 'Bearer [redacted]',
      list: ['[redacted]', 1, null],
      '[redacted]': true,
    });
    expect(value.header).toBe(`Bearer ${secret}`);
    expect(redactKnownValuesDeep(value, [])).toBe(value);
  });

  it('answers a long text it already redacted the same way, from memory, and still redacts a new one', () => {
    const redactor = knownValueRedactor([secret]);
    const long = (n: number) => `${'log line\n'.repeat(100)}token=${secret} #${n}`;
    const first = redactor.redact(long(1));
    expect(first).toBe(`${'log line\n'.repeat(100)}token=[redacted] #1`);
    expect(redactor.redact(long(1))).toBe(first);
    // Far more than it keeps: the oldest are forgotten, every answer stays right.
    for (let n = 2; n < 6_000; n++) expect(redactor.redact(long(n))).not.toContain(secret);
    expect(redactor.redact(long(1))).toBe(first);
  });

  it('walks a value nested 100,000 deep without recursion, and redacts the string at its bottom', () => {
    let deep: unknown = { key: `Bearer ${secret}` };
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? { a: deep } : [deep];
    let bottom = redactKnownValuesDeep(deep, [secret]);
    for (let i = 0; i < 100_000; i++) bottom = i % 2 ? (bottom as unknown[])[0] : (bottom as { a: unknown }).a;
    expect(bottom).toEqual({ key: 'Bearer [redacted]' });
  });
});
