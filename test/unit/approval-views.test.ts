import { describe, expect, it } from 'vitest';
import { ApprovalRefusedError } from '../../core/approvals/errors.ts';
import { confirmationPage, decidedPage, refusalPage } from '../../functions/http/approval-views.ts';

const hostile = `<script>alert("x")</script>' onmouseover='x`;

describe('the approval pages', () => {
  it('show every value as text, in content and attributes, with headers that forbid script and framing', () => {
    const page = confirmationPage({
      asking: `tools.${hostile}`,
      agent: hostile,
      runId: hostile,
      asked: { calls: [{ tool: hostile, arguments: { title: hostile } }] },
      reasons: [hostile],
      expires: hostile,
      risk: [{ kind: 'cost', level: 'high', text: hostile }],
      traceUrl: `http://127.0.0.1:9/?q=${hostile}`,
      action: `/approvals/a?s=${hostile}`,
      formToken: hostile,
      recipient: hostile,
    });
    const body = String(page.body);
    expect(body).not.toMatch(/<script|' onmouseover/);
    expect(body).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x');
    expect(body).toContain('<li class="risk-high">&lt;script&gt;');
    expect(body).toContain(
      '<button type="submit" name="decision" value="approve" class="approve">✓ Approve: run it</button>',
    );
    expect(body).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(page.headers).toMatchObject({
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    expect(page.headers!['content-security-policy']).toMatch(/^default-src 'none';/);
  });

  it('escape refusals and decisions too', () => {
    const refused = refusalPage(new ApprovalRefusedError('not_allowed', hostile));
    expect(refused.status).toBe(403);
    expect(String(refused.body)).not.toMatch(/<script/);
    const decision = { outcome: 'rejected', by: hostile, at: hostile } as const;
    const decided = decidedPage(
      { record: {} as never, decision: decision as never, stopsRun: true, delivered: true },
      hostile,
    );
    expect(String(decided.body)).not.toMatch(/<script|' onmouseover/);
    expect(String(decided.body)).toContain('The run stops: rejected.');
  });
});
