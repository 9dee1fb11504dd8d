import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed approval links. A link names an approval, the one recipient it was mailed to and
 * its expiry (the approval's), signed with HMAC-SHA256 under a key read by name from the
 * secret store. It never carries the task token, so a leaked or scanned link can at most
 * open the confirmation page for that recipient until the approval expires.
 */

export interface LinkClaims {
  approvalId: string;
  /** The approver the link was mailed to (lower-case). */
  recipient: string;
  /** Seconds since the epoch: the approval's expiry. */
  expires: number;
}

/** The query string parameters of a link: recipient, expiry, signature. */
export interface LinkParams {
  r?: string;
  e?: string;
  s?: string;
}

export type LinkCheck =
  | { ok: true; claims: LinkClaims; signature: string }
  | { ok: false; reason: 'malformed' | 'tampered' | 'expired'; message: string };

/** The bytes signed: versioned, one field per line, so no field can bleed into the next. */
function payload(claims: LinkClaims): string {
  return ['looprail-approval-link-v1', claims.approvalId, claims.recipient, String(claims.expires)].join('\n');
}

function hmac(key: string, text: string): Buffer {
  if (key.length < 16) throw new Error('the approval signing key is shorter than 16 characters');
  return createHmac('sha256', key).update(text, 'utf8').digest();
}

export function signLink(key: string, claims: LinkClaims): string {
  return hmac(key, payload(claims)).toString('base64url');
}

/** `<baseUrl>/approvals/<id>?r=…&e=…&s=…` */
export function approvalLink(baseUrl: string, key: string, claims: LinkClaims): string {
  const query = new URLSearchParams({ r: claims.recipient, e: String(claims.expires), s: signLink(key, claims) });
  return `${baseUrl.replace(/\/+$/, '')}/approvals/${encodeURIComponent(claims.approvalId)}?${query.toString()}`;
}

/**
 * Compared as raw HMAC bytes in constant time; a signature of the wrong length is simply
 * wrong. A signature has one spelling: the decoder ignores the unused low bits of the last
 * character (and padding, and `+` `/` for `-` `_`), so the given text must also be exactly
 * the canonical base64url encoding of the bytes it decodes to, or it is refused as tampered.
 */
function sameSignature(expected: Buffer, given: string): boolean {
  const actual = Buffer.from(given, 'base64url');
  const canonical = actual.toString('base64url') === given;
  const same = actual.length === expected.length && timingSafeEqual(actual, expected);
  return canonical && same;
}

/** Checks the signature first (a tampered link learns nothing else), then the expiry. */
export function verifyLink(key: string, approvalId: string, params: LinkParams, now: Date): LinkCheck {
  const { r, e, s } = params;
  if (!r || !e || !s || !/^\d{1,12}$/.test(e) || !/^[A-Za-z0-9_-]{1,128}$/.test(s) || r.length > 320) {
    return {
      ok: false,
      reason: 'malformed',
      message: 'this link is incomplete: open the link from the email as it is, without changing it',
    };
  }
  const claims: LinkClaims = { approvalId, recipient: r, expires: Number(e) };
  if (!sameSignature(hmac(key, payload(claims)), s)) {
    return {
      ok: false,
      reason: 'tampered',
      message: 'this link is not valid: its signature does not match (was it changed or cut?)',
    };
  }
  if (now.getTime() >= claims.expires * 1000) {
    return {
      ok: false,
      reason: 'expired',
      message: `this approval link expired at ${new Date(claims.expires * 1000).toISOString()}`,
    };
  }
  return { ok: true, claims, signature: s };
}

/**
 * The anti-forgery field of the confirmation form: derived from the link's signature, so
 * only someone who opened that link's page can post a decision for it (a cross-site form
 * cannot know it).
 */
export function formToken(key: string, signature: string): string {
  return hmac(key, `looprail-approval-form-v1\n${signature}`).toString('base64url');
}

export function verifyFormToken(key: string, signature: string, given: string | undefined): boolean {
  if (!given || !/^[A-Za-z0-9_-]{1,128}$/.test(given)) return false;
  return sameSignature(hmac(key, `looprail-approval-form-v1\n${signature}`), given);
}

/** Seconds since the epoch for an ISO time (the approval's expiresAt), rounded down. */
export function expirySeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}
