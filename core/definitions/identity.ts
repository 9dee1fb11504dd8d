import type { Catalog } from './catalog.ts';
import { sha256 } from './hash.ts';

/**
 * Each agent, and each of its sub-agents, acts as its own identity: on AWS an IAM role
 * that can read exactly the secrets of its own models and servers, assumed by the steps
 * with the run id as the session name, so audit logs show the loop, never a person, and
 * never one loop's rights in another.
 */
export interface Identity {
  /** `agent` or `agent.subagent`. */
  name: string;
  agent: string;
  subagent?: string;
  /** Models it calls (its own, a fallback, or the parent's for a sub-agent without one). */
  models: string[];
  /** MCP servers it is granted. */
  servers: string[];
}

export function identityName(agent: string, subagent?: string): string {
  return subagent ? `${agent}.${subagent}` : agent;
}

export function identitiesOf(catalog: Catalog): Identity[] {
  const identities: Identity[] = [];
  for (const { spec } of Object.values(catalog.agents)) {
    const serversOf = (grants: typeof spec.mcp_servers) =>
      [...new Set(grants.map((grant) => (typeof grant === 'string' ? grant : grant.name)))].sort();
    identities.push({
      name: identityName(spec.name),
      agent: spec.name,
      models: [spec.model, ...(spec.fallback_model ? [spec.fallback_model] : [])],
      servers: serversOf(spec.mcp_servers),
    });
    for (const sub of spec.subagents) {
      // A sub-agent that is another org agent runs as that agent's own identity: no role of its own.
      if (sub.agent !== undefined) continue;
      identities.push({
        name: identityName(spec.name, sub.name),
        agent: spec.name,
        subagent: sub.name,
        models: [sub.model ?? spec.model],
        servers: serversOf(sub.mcp_servers),
      });
    }
  }
  return identities.sort((a, b) => a.name.localeCompare(b.name));
}

/** Secret names an identity may read: its models' keys and its HTTP servers' credentials. */
export function secretsOf(catalog: Catalog, identity: Identity): string[] {
  const names = new Set<string>();
  for (const model of identity.models) {
    const declaration = catalog.models[model]?.declaration;
    if (declaration && 'secret' in declaration && declaration.secret) names.add(declaration.secret);
  }
  for (const name of identity.servers) {
    const server = catalog.servers[name];
    if (!server) continue;
    // A stdio server's env_secrets are read by the server's own host on AWS (its role alone), never by the agent.
    if (server.auth) names.add(server.auth.secret);
  }
  return [...names].sort();
}

/** IAM role names are at most 64 characters: a long identity keeps a readable start and a hash. */
export function agentRoleName(prefix: string, identity: string): string {
  const full = `${prefix}${identity}`;
  if (full.length <= 64) return full;
  return `${full.slice(0, 64 - 9)}-${sha256(identity).slice(0, 8)}`;
}
