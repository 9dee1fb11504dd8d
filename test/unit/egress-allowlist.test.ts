import { describe, expect, it } from 'vitest';
import { NetworkPolicy } from '../../core/definitions/sandbox.ts';
import {
  checkEgress,
  normalizeHost,
  parseEgressAllowlist,
  parseEgressRule,
  parsePort,
} from '../../core/sandbox/egress-allowlist.ts';
import type { EgressAllowlist } from '../../core/sandbox/egress-allowlist.ts';

/** The egress proxy's allowlist matcher: what `sandbox.network.allow` lets a sandbox reach. */

function allowlist(...entries: string[]): EgressAllowlist {
  const result = parseEgressAllowlist(entries);
  if ('errors' in result) throw new Error(result.errors.join('; '));
  return result.allowlist;
}

const allowed = (list: EgressAllowlist, host: string, port: number) =>
  checkEgress(list, normalizeHost(host)!, port).allowed;

describe('normalizeHost', () => {
  it('lower-cases, drops one trailing dot and turns IDNs into punycode', () => {
    expect(normalizeHost('Registry.NPMJS.org')).toBe('registry.npmjs.org');
    expect(normalizeHost('registry.npmjs.org.')).toBe('registry.npmjs.org');
    expect(normalizeHost('bücher.de')).toBe('xn--bcher-kva.de');
    expect(normalizeHost('BÜCHER.de.')).toBe('xn--bcher-kva.de');
    // Full-width letters fold to ASCII (IDNA mapping): the same name, not a look-alike.
    expect(normalizeHost('ｅｘａｍｐｌｅ.com')).toBe('example.com');
  });

  it('writes IP literals one way (IPv4 shorthand and hex, IPv6 compressed in brackets)', () => {
    expect(normalizeHost('127.1')).toBe('127.0.0.1');
    expect(normalizeHost('0x7f.0.0.1')).toBe('127.0.0.1');
    expect(normalizeHost('2130706433')).toBe('127.0.0.1');
    expect(normalizeHost('[0:0:0:0:0:0:0:1]')).toBe('[::1]');
    expect(normalizeHost('[::ffff:169.254.169.254]')).toBe('[::ffff:a9fe:a9fe]');
  });

  it('rejects what is not a host', () => {
    for (const bad of [
      '',
      'exa mple.com',
      'example..com',
      'example.com..',
      '.',
      '*.example.com',
      '256.1.1.1',
      '1.2.3.4.5',
      `${'a'.repeat(64)}.com`,
      'user@example.com',
    ]) {
      expect(normalizeHost(bad), bad).toBeUndefined();
    }
  });
});

describe('parsePort', () => {
  it('accepts 1-65535 only', () => {
    expect(parsePort('443')).toBe(443);
    expect(parsePort('65535')).toBe(65_535);
    for (const bad of ['0', '65536', '', '-1', '44 3', '1e3', '999999']) expect(parsePort(bad), bad).toBeUndefined();
  });
});

describe('parseEgressRule', () => {
  it('reads host, host:port, *.suffix and *.suffix:port, normalised', () => {
    expect(parseEgressRule('Registry.npmjs.org')).toEqual({ host: 'registry.npmjs.org', wildcard: false });
    expect(parseEgressRule('example.com:8443')).toEqual({ host: 'example.com', wildcard: false, port: 8443 });
    expect(parseEgressRule('*.github.com')).toEqual({ host: 'github.com', wildcard: true });
    expect(parseEgressRule('*.github.com:22')).toEqual({ host: 'github.com', wildcard: true, port: 22 });
    expect(parseEgressRule('bücher.de.')).toEqual({ host: 'xn--bcher-kva.de', wildcard: false });
  });

  it('accepts everything the agent definition schema accepts', () => {
    const entries = ['registry.npmjs.org', '*.github.com', 'example.com:443', '10.0.0.1', 'a.b.c.d.example.org:65535'];
    expect(NetworkPolicy.parse({ allow: entries })).toEqual({ allow: entries });
    for (const entry of entries) expect(parseEgressRule(entry), entry).not.toHaveProperty('error');
  });

  it('says what is wrong with a bad entry', () => {
    expect(parseEgressRule('example.com:0')).toEqual({
      error: '"example.com:0" needs a port from 1 to 65535 after the colon',
    });
    expect(parseEgressRule('example.com:')).toHaveProperty('error');
    expect(parseEgressRule('*.10.0.0.1')).toEqual({ error: '"*.10.0.0.1": a wildcard needs a domain name after *.' });
    for (const bad of ['*', '*.', 'ex*ample.com', '**.example.com', 'example..com', '[::1]:443', 'exa mple.com']) {
      expect(parseEgressRule(bad), bad).toHaveProperty('error');
    }
  });

  it('reports every bad entry of a list at once, and refuses an empty list', () => {
    expect(parseEgressAllowlist(['ok.example.com', 'bad host', 'x.com:99999'])).toEqual({
      errors: [
        '"bad host" is not a host, *.suffix or host:port entry',
        '"x.com:99999" needs a port from 1 to 65535 after the colon',
      ],
    });
    expect(parseEgressAllowlist([])).toEqual({ errors: ['expected at least one host'] });
  });
});

describe('checkEgress', () => {
  it('lets a bare host through on 443 and 80 only', () => {
    const list = allowlist('registry.npmjs.org');
    expect(allowed(list, 'registry.npmjs.org', 443)).toBe(true);
    expect(allowed(list, 'registry.npmjs.org', 80)).toBe(true);
    expect(allowed(list, 'registry.npmjs.org', 8443)).toBe(false);
    expect(allowed(list, 'registry.npmjs.org', 22)).toBe(false);
  });

  it('lets host:port through on exactly that port', () => {
    const list = allowlist('example.com:8443');
    expect(allowed(list, 'example.com', 8443)).toBe(true);
    expect(allowed(list, 'example.com', 443)).toBe(false);
    expect(allowed(list, 'example.com', 80)).toBe(false);
  });

  it('combines entries for the same host', () => {
    const list = allowlist('example.com:8443', 'example.com');
    for (const port of [8443, 443, 80]) expect(allowed(list, 'example.com', port)).toBe(true);
    expect(allowed(list, 'example.com', 8080)).toBe(false);
  });

  it('matches *.suffix for subdomains at any depth, never the suffix itself or a look-alike', () => {
    const list = allowlist('*.github.com');
    expect(allowed(list, 'api.github.com', 443)).toBe(true);
    expect(allowed(list, 'a.b.c.github.com', 443)).toBe(true);
    expect(allowed(list, 'github.com', 443)).toBe(false);
    expect(allowed(list, 'evilgithub.com', 443)).toBe(false);
    expect(allowed(list, 'github.com.evil.net', 443)).toBe(false);
    expect(allowed(list, 'api.github.com', 8443)).toBe(false);
    expect(allowed(allowlist('*.github.com:22'), 'ssh.github.com', 22)).toBe(true);
    expect(allowed(allowlist('*.github.com:22'), 'ssh.github.com', 443)).toBe(false);
  });

  it('does not match a bare host rule against its subdomains', () => {
    expect(allowed(allowlist('example.com'), 'www.example.com', 443)).toBe(false);
  });

  it('compares names as they resolve: case, trailing dot and IDN spellings are the same host', () => {
    const list = allowlist('bücher.de', 'Example.COM');
    expect(allowed(list, 'xn--bcher-kva.de', 443)).toBe(true);
    expect(allowed(list, 'BÜCHER.DE.', 443)).toBe(true);
    expect(allowed(list, 'EXAMPLE.com.', 80)).toBe(true);
  });

  it('matches IP literals exactly, in any spelling, and never by a wildcard', () => {
    const list = allowlist('10.0.0.1');
    expect(allowed(list, '10.0.0.1', 443)).toBe(true);
    expect(allowed(list, '10.0.0.2', 443)).toBe(false);
    expect(allowed(list, '10.1', 443)).toBe(true);
    expect(allowed(list, '0x0a.0.0.1', 443)).toBe(true);
    expect(allowed(allowlist('*.example.com'), '1.2.3.4', 443)).toBe(false);
  });

  it('names the host (and port) it refuses, never the allowlist', () => {
    const list = allowlist('secret-internal.example.com', '*.corp.example.net');
    const host = checkEgress(list, 'evil.example.org', 443);
    expect(host).toEqual({ allowed: false, reason: "evil.example.org is not in this sandbox's network allowlist" });
    const port = checkEgress(list, 'secret-internal.example.com', 22);
    expect(port).toEqual({
      allowed: false,
      reason: "port 22 of secret-internal.example.com is not in this sandbox's network allowlist",
    });
    expect(JSON.stringify(host)).not.toContain('corp');
  });
});
