import { describe, expect, it } from 'vitest';
import { callBinding } from '../../core/approvals/binding.ts';
import { approvalEmail } from '../../core/approvals/email.ts';
import { escapeHtml } from '../../core/format/html.ts';
import { approvalLink, formToken, signLink, verifyFormToken, verifyLink } from '../../core/approvals/links.ts';

const key = ['test-signing', 'key-0123456789abcdef'].join('-');
const claims = { approvalId: 'r-1-a3', recipient: 'lead@example.com', expires: 2_000_000_000 };
const now = new Date(1_900_000_000_000);

function paramsOf(link: string) {
  return Object.fromEntries(new URL(link).searchParams) as { r: string; e: string; s: string };
}

describe('signed approval links', () => {
  it('carries the approval id, recipient, expiry and a signature, and verifies', () => {
    const link = approvalLink('http://127.0.0.1:9/', key, claims);
    expect(link).toMatch(
      /^http:\/\/127\.0\.0\.1:9\/approvals\/r-1-a3\?r=lead%40example\.com&e=2000000000&s=[A-Za-z0-9_-]{43}$/,
    );
    expect(verifyLink(key, 'r-1-a3', paramsOf(link), now)).toMatchObject({ ok: true, claims });
  });

  it('refuses a changed recipient, expiry, approval id, signature or key', () => {
    const params = paramsOf(approvalLink('http://x', key, claims));
    expect(verifyLink(key, 'r-1-a3', { ...params, r: 'mallory@example.com' }, now)).toMatchObject({
      ok: false,
      reason: 'tampered',
    });
    expect(verifyLink(key, 'r-1-a3', { ...params, e: String(claims.expires + 3600) }, now)).toMatchObject({
      ok: false,
      reason: 'tampered',
    });
    expect(verifyLink(key, 'r-1-a4', params, now)).toMatchObject({ ok: false, reason: 'tampered' });
    expect(
      verifyLink(key, 'r-1-a3', { ...params, s: params.s.slice(0, -2) + (params.s.endsWith('AA') ? 'BB' : 'AA') }, now),
    ).toMatchObject({ ok: false, reason: 'tampered' });
    expect(verifyLink(key, 'r-1-a3', { ...params, s: params.s.slice(0, 10) }, now)).toMatchObject({
      ok: false,
      reason: 'tampered',
    });
    expect(verifyLink(`${key}x`, 'r-1-a3', params, now)).toMatchObject({ ok: false, reason: 'tampered' });
  });

  it('refuses an incomplete link, and an expired one (after checking the signature)', () => {
    const params = paramsOf(approvalLink('http://x', key, claims));
    expect(verifyLink(key, 'r-1-a3', { r: params.r, e: params.e }, now)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
    expect(verifyLink(key, 'r-1-a3', { ...params, e: 'soon' }, now)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyLink(key, 'r-1-a3', params, new Date(claims.expires * 1000))).toMatchObject({
      ok: false,
      reason: 'expired',
    });
  });

  it("derives a form token from the signature that only that link's page knows", () => {
    const signature = signLink(key, claims);
    const token = formToken(key, signature);
    expect(verifyFormToken(key, signature, token)).toBe(true);
    expect(verifyFormToken(key, signLink(key, { ...claims, recipient: 'other@example.com' }), token)).toBe(false);
    expect(verifyFormToken(key, signature, undefined)).toBe(false);
    expect(verifyFormToken(key, signature, '')).toBe(false);
    expect(verifyFormToken(key, signature, signature)).toBe(false);
  });

  it('refuses a signing key too short to be one', () => {
    expect(() => signLink('short', claims)).toThrow(/shorter than 16/);
  });
});

describe('the binding of an approval to what runs', () => {
  it('is the same for the same tool, arguments (any key order) and policy, and differs otherwise', () => {
    const base = callBinding('notes.create_entities', { a: 1, b: [1, 2] }, 'v1');
    expect(callBinding('notes.create_entities', { b: [1, 2], a: 1 }, 'v1')).toBe(base);
    expect(callBinding('notes.create_entities', { a: 2, b: [1, 2] }, 'v1')).not.toBe(base);
    expect(callBinding('notes.delete_entities', { a: 1, b: [1, 2] }, 'v1')).not.toBe(base);
    expect(callBinding('notes.create_entities', { a: 1, b: [1, 2] }, 'v2')).not.toBe(base);
  });
});

describe('the approval email', () => {
  const facts = {
    agent: 'nightly<script>',
    runId: 'r-1',
    approvalId: 'r-1-a3',
    calls: [{ tool: 'github.merge_pr', arguments: { title: '<img src=x onerror=alert(1)>', pr: 7 } }],
    reasons: ['github.merge_pr is flagged destructive in its server declaration'],
    costMicros: 12_345,
    expiresAt: '2026-11-27T06:00:00.000Z',
    traceUrl: 'http://127.0.0.1:9/v1/runs/r-1/trace',
  };
  const link = 'http://127.0.0.1:9/approvals/r-1-a3?r=lead%40example.com&e=1&s=abc';

  it('says which agent, run, tool, exact arguments, why, cost so far, trace and link, as text and HTML', () => {
    const mail = approvalEmail(facts, 'lead@example.com', link);
    expect(mail.to).toEqual(['lead@example.com']);
    expect(mail.subject).toBe('[looprail] approve github.merge_pr for nightly<script>?');
    for (const part of [
      'nightly<script>',
      'r-1',
      'github.merge_pr',
      '"pr": 7',
      'flagged destructive',
      '$0.0123',
      facts.traceUrl,
      link,
      '2026-11-27T06:00:00.000Z',
    ])
      expect(mail.text).toContain(part);
    expect(mail.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(mail.html).toContain('nightly&lt;script&gt;');
    expect(mail.html).not.toMatch(/<script|<img/);
    expect(mail.html).toContain(`href="${escapeHtml(link)}"`);
  });
});

describe('the two-person rule in a definition', () => {
  it('needs at least two distinct approvers, said where', async () => {
    const { ApprovalRule } = await import('../../core/definitions/agent.ts');
    expect(ApprovalRule.safeParse({ approvers: ['a@example.com', 'b@example.com'], two_person: true }).success).toBe(
      true,
    );
    const one = ApprovalRule.safeParse({ approvers: ['a@example.com', 'A@example.com'], two_person: true });
    expect(one.error?.issues).toEqual([
      expect.objectContaining({
        path: ['approvers'],
        message: 'two_person: true needs at least two distinct approvers',
      }),
    ]);
    expect(ApprovalRule.safeParse({ two_person: 'yes' }).success).toBe(false);
  });
});
