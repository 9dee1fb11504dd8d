import type { Catalog } from '../../../core/definitions/catalog.ts';
import type { SandboxSpec } from '../../../core/definitions/sandbox.ts';

/** The agents that declare `sandbox:`, by name. */
export function sandboxAgents(catalog: Catalog): Array<{ name: string; spec: SandboxSpec }> {
  return Object.values(catalog.agents)
    .filter((entry) => entry.spec.sandbox !== undefined)
    .map((entry) => ({ name: entry.spec.name, spec: entry.spec.sandbox! }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** `{ agent: [host, …] }` of the agents whose sandbox network is an allowlist: what the egress proxy enforces. */
export function egressAllowlists(catalog: Catalog): Record<string, string[]> {
  const lists: Record<string, string[]> = {};
  for (const { name, spec } of sandboxAgents(catalog)) {
    if (spec.network !== 'none') lists[name] = [...spec.network.allow];
  }
  return lists;
}

/**
 * The ports the proxy may connect out to: `any` when some allowlisted host names no port;
 * always 443, which its own image layers (S3, over the internet from its public subnet) need.
 */
export function proxyPorts(allowlists: Record<string, string[]>): number[] | 'any' {
  const ports = new Set<number>([443]);
  for (const host of Object.values(allowlists).flat()) {
    const port = /:(\d+)$/.exec(host)?.[1];
    if (port === undefined) return 'any';
    ports.add(Number(port));
  }
  return [...ports].sort((a, b) => a - b);
}
