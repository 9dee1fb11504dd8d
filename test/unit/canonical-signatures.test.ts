import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formToken, signLink, verifyFormToken, verifyLink } from '../../core/approvals/links.ts';
import { githubSignature, looprailSignature, verifyWebhookSignature } from '../../core/policy/webhook-signature.ts';
import { decodeCursor, nextCursor } from '../../functions/http/api/cursor.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import { HttpError } from '../../functions/http/router.ts';
import { otherBase64urlSpellings, otherHexSpellings } from '../support/spellings.ts';

/**
 * A signature has one spelling. Buffer's base64url decoder ignores the unused low bits of
 * the last character, padding and the `+` `/` alphabet, and hex is read in either case: every
 * such other spelling of a valid signature (generated for random keys and claims) is refused.
 */

const NOW = new Date(1_900_000_000_000);
const key = fc.string({ minLength: 16, maxLength: 64 });
const claims = fc.record({
  approvalId: fc.stringMatching(/^r-[a-z0-9]{1,12}-a[0-9]{1,3}$/),
  recipient: fc.emailAddress(),
  expires: fc.integer({ min: 1_900_000_001, max: 2_000_000_000 }),
});
const OPTIONS = { seed: 18, numRuns: 200 };

describe('approval link signatures', () => {
  it('verify in their one spelling and refuse every other spelling of the same bytes', () => {
    const seen = { lastCharacter: 0, alphabet: 0 };
    fc.assert(
      fc.property(key, claims, (secret, link) => {
        const s = signLink(secret, link);
        expect(s).toMatch(/^[A-Za-z0-9_-]{43}$/);
        const params = { r: link.recipient, e: String(link.expires), s };
        expect(verifyLink(secret, link.approvalId, params, NOW)).toMatchObject({ ok: true });
        const others = otherBase64urlSpellings(s);
        // Three other last characters and padding, always; the `+` `/` alphabet when the signature has `-` or `_`.
        expect(others.length).toBeGreaterThanOrEqual(4);
        for (const other of others) {
          expect(Buffer.from(other, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
          const refused = verifyLink(secret, link.approvalId, { ...params, s: other }, NOW);
          expect(refused, other).toMatchObject({ ok: false });
          expect(['tampered', 'malformed']).toContain((refused as { reason: string }).reason);
          if (/^[A-Za-z0-9_-]{43}$/.test(other)) {
            expect(refused, other).toMatchObject({ reason: 'tampered' });
            seen.lastCharacter++;
          }
          if (/[+/]/.test(other) && !other.endsWith('=')) seen.alphabet++;
        }
      }),
      OPTIONS,
    );
    expect(seen.lastCharacter).toBe(OPTIONS.numRuns * 3);
    expect(seen.alphabet).toBeGreaterThan(0);
  });

  it("refuse every other spelling of a confirmation form's anti-forgery token", () => {
    fc.assert(
      fc.property(key, claims, (secret, link) => {
        const signature = signLink(secret, link);
        const token = formToken(secret, signature);
        expect(verifyFormToken(secret, signature, token)).toBe(true);
        for (const other of otherBase64urlSpellings(token))
          expect(verifyFormToken(secret, signature, other), other).toBe(false);
      }),
      OPTIONS,
    );
  });
});

describe('webhook signatures', () => {
  const body = fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes));

  it('accept lower-case hex only, in both schemes', () => {
    fc.assert(
      fc.property(key, body, (secret, rawBody) => {
        const github = githubSignature(secret, rawBody);
        const verify = (header: string) =>
          verifyWebhookSignature({
            scheme: 'github',
            secret,
            headers: { 'x-hub-signature-256': header },
            rawBody,
            now: NOW,
          });
        expect(verify(github)).toEqual({ ok: true });
        for (const other of otherHexSpellings(github.slice('sha256='.length)))
          expect(verify(`sha256=${other}`), other).toMatchObject({ ok: false, status: 401 });

        const timestamp = Math.floor(NOW.getTime() / 1000);
        const generic = looprailSignature(secret, timestamp, rawBody);
        const verifyGeneric = (header: string) =>
          verifyWebhookSignature({
            scheme: 'hmac-sha256',
            secret,
            headers: { 'x-looprail-signature': header, 'x-looprail-timestamp': String(timestamp) },
            rawBody,
            now: NOW,
          });
        expect(verifyGeneric(generic)).toEqual({ ok: true });
        for (const other of otherHexSpellings(generic.slice('v1='.length)))
          expect(verifyGeneric(`v1=${other}`), other).toMatchObject({ ok: false, status: 401 });
      }),
      { seed: 18, numRuns: 50 },
    );
  });
});

describe('run list cursors', () => {
  const run = fc.record({
    createdAt: fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
    runId: fc.stringMatching(/^r-[a-z0-9]{1,10}-[0-9a-f]{12}$/),
  });

  it('decode in the spelling the API wrote, and any other spelling is a 400 naming the cursor', () => {
    fc.assert(
      fc.property(run, (last) => {
        const cursor = nextCursor([last as RunMeta], 1)!;
        expect(decodeCursor(cursor)).toEqual(last);
        const others = [
          ...otherBase64urlSpellings(cursor),
          // The same fields with other JSON spacing: valid base64url, not what the API wrote.
          Buffer.from(JSON.stringify([last.createdAt, last.runId], null, 1)).toString('base64url'),
        ];
        for (const other of others) {
          let thrown: unknown;
          try {
            decodeCursor(other);
          } catch (error) {
            thrown = error;
          }
          expect(thrown, other).toBeInstanceOf(HttpError);
          expect(thrown).toMatchObject({ status: 400, field: 'cursor' });
        }
      }),
      OPTIONS,
    );
  });
});
