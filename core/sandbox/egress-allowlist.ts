import { domainToASCII } from 'node:url';

/**
 * A sandbox's network allowlist (`sandbox.network.allow`) as the egress proxy applies it.
 *
 * Entries: `host` (ports 443 and 80), `host:port` (exactly that port), `*.suffix`
 * (subdomains of suffix at any depth, never suffix itself) and `*.suffix:port`.
 * Entries and requested hosts go through the same normalisation (WHATWG host parsing:
 * lower case, IDN to punycode, IPv4 shorthand to dotted quads, IPv6 compressed; one
 * trailing dot dropped), so `Example.COM.`, `bücher.de` and `xn--bcher-kva.de` compare
 * as the names they resolve as. Whatever the proxy checks is what it then resolves.
 */

/** What a bare host (no `:port`) allows: HTTPS and plain HTTP. */
export const DEFAULT_EGRESS_PORTS: readonly number[] = [443, 80];

export interface EgressRule {
  /** Normalised host; for a wildcard, the suffix after `*.`. */
  host: string;
  wildcard: boolean;
  /** Exactly this port; undefined means DEFAULT_EGRESS_PORTS. */
  port?: number;
}

export type EgressAllowlist = readonly EgressRule[];

export type EgressDecision = { allowed: true } | { allowed: false; reason: string };

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Whether a normalised host is an IP literal (a dotted quad, or IPv6 in brackets). */
export function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || (host.startsWith('[') && host.endsWith(']'));
}

/**
 * The host as the proxy compares, resolves and logs it, or undefined when it is not a
 * host name or IP literal (empty labels, `*`, spaces, an out-of-range address). IPv6
 * literals keep their brackets.
 */
export function normalizeHost(raw: string): string | undefined {
  if (raw.length === 0 || raw.length > 300) return undefined;
  const ascii = domainToASCII(raw);
  if (ascii === '') return undefined;
  if (ascii.startsWith('[')) return ascii;
  if (IPV4.test(ascii)) return ascii;
  // One trailing dot is the fully qualified spelling of the same name.
  const name = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  if (name.length === 0 || name.length > 253) return undefined;
  const labels = name.split('.');
  if (!labels.every((label) => LABEL.test(label))) return undefined;
  // A name whose last label is all digits would be read as an address somewhere else.
  if (/^\d+$/.test(labels.at(-1)!)) return undefined;
  return name;
}

/** A port from its decimal text: 1..65535, or undefined. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65_535 ? port : undefined;
}

/** One allowlist entry, or a message saying what is wrong with it. */
export function parseEgressRule(entry: string): EgressRule | { error: string } {
  const invalid = { error: `"${entry}" is not a host, *.suffix or host:port entry` };
  let rest = entry.trim();
  const wildcard = rest.startsWith('*.');
  if (wildcard) rest = rest.slice(2);
  let port: number | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1) {
    port = parsePort(rest.slice(colon + 1));
    if (port === undefined) return { error: `"${entry}" needs a port from 1 to 65535 after the colon` };
    rest = rest.slice(0, colon);
  }
  if (rest.includes('*') || rest.startsWith('[')) return invalid;
  const host = normalizeHost(rest);
  if (host === undefined) return invalid;
  if (wildcard && isIpLiteral(host)) return { error: `"${entry}": a wildcard needs a domain name after *.` };
  return port === undefined ? { host, wildcard } : { host, wildcard, port };
}

/** Every entry of one list; all problems at once, or the compiled list. */
export function parseEgressAllowlist(
  entries: readonly string[],
): { allowlist: EgressAllowlist } | { errors: string[] } {
  const rules: EgressRule[] = [];
  const errors: string[] = [];
  for (const entry of entries) {
    const rule = parseEgressRule(entry);
    if ('error' in rule) errors.push(rule.error);
    else rules.push(rule);
  }
  if (errors.length > 0) return { errors };
  if (rules.length === 0) return { errors: ['expected at least one host'] };
  return { allowlist: rules };
}

function hostMatches(rule: EgressRule, host: string): boolean {
  if (!rule.wildcard) return rule.host === host;
  return !isIpLiteral(host) && host.endsWith(`.${rule.host}`);
}

function portMatches(rule: EgressRule, port: number): boolean {
  return rule.port === undefined ? DEFAULT_EGRESS_PORTS.includes(port) : rule.port === port;
}

/**
 * Whether a sandbox may reach `host:port` (host already normalised). A refusal names the
 * host and port, never the allowlist's contents.
 */
export function checkEgress(allowlist: EgressAllowlist, host: string, port: number): EgressDecision {
  const forHost = allowlist.filter((rule) => hostMatches(rule, host));
  if (forHost.length === 0) return { allowed: false, reason: `${host} is not in this sandbox's network allowlist` };
  if (!forHost.some((rule) => portMatches(rule, port))) {
    return { allowed: false, reason: `port ${port} of ${host} is not in this sandbox's network allowlist` };
  }
  return { allowed: true };
}
