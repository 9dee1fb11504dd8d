import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../core/errors.ts';
import { escapeHtml, html, raw } from '../../core/format/html.ts';
import { CONSOLE_HEADERS, consoleRoute, href } from '../../functions/http/console/html.ts';
import { redactForDisplay } from '../../functions/http/console/redact.ts';
import { consoleCookie, consoleLogin } from '../../cli/console-login.ts';

describe('console markup', () => {
  it('escapes every interpolated value, in text and in attributes, unless it is markup built by html', () => {
    const hostile = `<script>alert("x")</script>' onmouseover='x`;
    expect(escapeHtml(hostile)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x');
    const page = html`<p title="${hostile}">${hostile}${[hostile, html`<b>${hostile}</b>`]}${undefined}${false}${0}</p>`
      .value;
    expect(page).not.toContain('<script>');
    expect(page).not.toMatch(/' onmouseover/);
    expect(page).toContain('<b>&lt;script&gt;');
    expect(page.endsWith('0</p>')).toBe(true);
    expect(html`${raw('<hr>')}`.value).toBe('<hr>');
  });

  it('builds links with only the filters that are set', () => {
    expect(href('/console/runs', { agent: 'a b', status: undefined, stopReason: '', limit: 5 })).toBe(
      '/console/runs?agent=a+b&limit=5',
    );
    expect(href('/console/runs')).toBe('/console/runs');
  });

  it('forbids every script through its Content-Security-Policy', () => {
    expect(CONSOLE_HEADERS['content-security-policy']).toMatch(/^default-src 'none';/);
    expect(CONSOLE_HEADERS['content-security-policy']).not.toMatch(/script-src/);
  });

  it("masks key-shaped text whatever the run's guardrail policy was", () => {
    const key = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
    expect(redactForDisplay(`the key is ${key}.`)).toBe('the key is [redacted:aws_access_key].');
    expect(redactForDisplay('nothing to hide')).toBe('nothing to hide');
  });

  it('turns errors a person can act on into HTML pages, and leaves the rest to the router', async () => {
    const missing = await consoleRoute('/console/runs', async () => {
      throw new NotFoundError('run <x> does not exist');
    })({ method: 'GET', path: '/console/runs/x', query: {}, headers: {}, rawBody: Buffer.alloc(0) }, {});
    expect(missing.status).toBe(404);
    expect(missing.headers!['content-type']).toMatch(/text\/html/);
    expect(String(missing.body)).toContain('run &lt;x&gt; does not exist');
    const broken = consoleRoute('/console/runs', async () => {
      throw new Error('boom');
    });
    await expect(
      broken({ method: 'GET', path: '/console/runs', query: {}, headers: {}, rawBody: Buffer.alloc(0) }, {}),
    ).rejects.toThrow('boom');
  });
});

describe('console login', () => {
  const check = (token: string) => token === 'right-token';
  const post = (form: Record<string, string>) =>
    consoleLogin(
      { method: 'POST', query: new URLSearchParams(), body: Buffer.from(new URLSearchParams(form).toString()) },
      check,
    );

  it('sets an HttpOnly, SameSite=Strict cookie for /console on the right token only', () => {
    const ok = post({ token: 'right-token', next: '/console/inventory' });
    expect(ok.status).toBe(303);
    expect(ok.headers).toMatchObject({
      location: '/console/inventory',
      'set-cookie': 'looprail_console=right-token; Path=/console; HttpOnly; SameSite=Strict',
    });
    for (const token of ['wrong', '', 'right-token; Path=/']) {
      const refused = post({ token });
      expect(refused.status).toBe(401);
      expect(refused.headers?.['set-cookie']).toBeUndefined();
    }
    expect(consoleLogin({ method: 'PUT', query: new URLSearchParams(), body: Buffer.alloc(0) }, check).status).toBe(
      405,
    );
  });

  it('sends a signed-in person only to a console page of this server', () => {
    for (const next of [
      'https://evil.example/',
      '//evil.example',
      '/v1/runs',
      '/console/../v1',
      '/console/%2e%2e/v1',
      '/console/login',
      'javascript:alert(1)',
    ]) {
      const location = post({ token: 'right-token', next }).headers?.location;
      expect(
        location === '/console/runs' || (location!.startsWith('/console/') && !location!.includes('..')),
        `${next} → ${location}`,
      ).toBe(true);
    }
    expect(post({ token: 'right-token', next: '/console/../v1' }).headers?.location).toBe('/console/runs');
  });

  it('reads its cookie among others', () => {
    expect(consoleCookie('a=1; looprail_console=tok=en; b=2')).toBe('tok=en');
    expect(consoleCookie(undefined)).toBeUndefined();
  });
});
