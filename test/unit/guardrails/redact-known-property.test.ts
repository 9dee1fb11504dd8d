import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { knownValueRedactor } from '../../../core/guardrails/redact-known.ts';
import { SECRET_ENCODINGS, occurrences, secretArbitrary } from '../../support/secret-encodings.ts';

/**
 * For random secrets (quotes, backslashes, control characters, non-ASCII, newlines) in
 * every encoding a sink may hold them in, surrounded by random text: after redaction no
 * decoded form of the text holds the secret.
 */

const context = fc
  .string({ unit: 'binary', maxLength: 20 })
  .filter((text) => !text.includes('\\') && !text.includes('%'));

describe('redacting known secrets, whatever their encoding', () => {
  for (const encoding of SECRET_ENCODINGS) {
    it(`leaves no secret ${encoding.name}`, () => {
      fc.assert(
        fc.property(secretArbitrary, context, context, (secret, before, after) => {
          const redactor = knownValueRedactor([`${secret}\n`, 'another-secret-value']);
          const text = `${before}${encoding.encode(secret)}${after}`;
          const redacted = redactor.redact(text);
          for (const decoded of encoding.decode(redacted)) expect(decoded).not.toContain(secret.trim());
          expect(occurrences(redacted, secret)).toEqual([]);
        }),
        { numRuns: 150, seed: 18 },
      );
    });
  }

  it('leaves no secret in a JSON document whatever the secret, and the document still parses', () => {
    fc.assert(
      fc.property(secretArbitrary, fc.jsonValue(), (secret, noise) => {
        const text = JSON.stringify({ noise, env: { TOKEN: secret }, nested: JSON.stringify({ TOKEN: secret }) });
        const redacted = knownValueRedactor([secret]).redact(text);
        const parsed = JSON.parse(redacted) as { env: { TOKEN: string }; nested: string };
        expect(JSON.stringify(parsed)).not.toContain(secret);
        expect(parsed.env.TOKEN).toBe('[redacted]');
        expect(JSON.parse(parsed.nested)).toEqual({ TOKEN: '[redacted]' });
      }),
      { numRuns: 200, seed: 18 },
    );
  });

  it('leaves text without the secret as it was', () => {
    fc.assert(
      fc.property(secretArbitrary, fc.string({ unit: 'binary', maxLength: 200 }), (secret, text) => {
        fc.pre(occurrences(text, secret).length === 0 && !text.includes(secret.trim()));
        const redacted = knownValueRedactor([secret]).redact(text);
        if (redacted !== text) expect(redacted).toContain('[redacted]');
      }),
      { numRuns: 200, seed: 18 },
    );
  });
});

describe('the redactor on hostile text', () => {
  // Growth, not speed: ten times the text must cost about ten times the time, never a
  // hundred (a quadratic scan). Each size takes its fastest of three tries so a busy machine
  // cannot fail it; the absolute figure is in `npm run bench` (bench/redaction.ts).
  it('stays linear on long texts full of escapes and near-misses', () => {
    const secret = 'pa"ss\\word-0123456789';
    const redactor = knownValueRedactor([secret]);
    const nearMiss = JSON.stringify(secret.slice(0, -1)).slice(1, -1);
    const hostile = (repeats: number) => `${`${nearMiss}%2F\\u00`.repeat(repeats)}${JSON.stringify(secret)}`;
    const fastest = (text: string) => {
      let best = Number.POSITIVE_INFINITY;
      for (let attempt = 0; attempt < 3; attempt++) {
        const started = performance.now();
        expect(redactor.redact(text).endsWith('"[redacted]"')).toBe(true);
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    const small = fastest(hostile(2_000));
    const large = fastest(hostile(20_000));
    expect(large / Math.max(small, 1)).toBeLessThan(35);
  });
});
