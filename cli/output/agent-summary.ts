import type { AgentEntry, Catalog } from '../../core/definitions/catalog.ts';
import { grantedTools, normalizeGrant } from '../../core/policy/grants.ts';

/** One line per valid agent: what it runs on, what it can touch, when it runs. */
export function agentSummary(catalog: Catalog, entry: AgentEntry) {
  const spec = entry.spec;
  const tools = grantedTools(spec.mcp_servers.map(normalizeGrant), catalog.servers);
  const writes = tools.filter((tool) => !tool.readOnly).length;
  const checker = spec.verify?.checker;
  const schedule = entry.trigger?.schedule;
  const parts = [
    `model ${spec.model}${catalog.models[spec.model]?.declaration.provider === 'scripted' ? ' (scripted)' : ''}`,
    `${spec.mcp_servers.length} server${spec.mcp_servers.length === 1 ? '' : 's'}, ${tools.length} tools (${writes} can write)`,
    spec.subagents.length > 0 ? `${spec.subagents.length} sub-agent${spec.subagents.length === 1 ? '' : 's'}` : '',
    checker ? `checker ${checker}` : '',
    schedule ? `schedule ${schedule.expression}${schedule.timezone !== 'UTC' ? ` ${schedule.timezone}` : ''}` : '',
    spec.enabled ? '' : 'PAUSED',
  ].filter(Boolean);
  return {
    name: spec.name,
    file: entry.file,
    model: spec.model,
    tools: tools.map((tool) => `${tool.server}.${tool.tool}`),
    schedule: schedule?.expression,
    line: `${spec.name} (${entry.file}): ${parts.join(' · ')}`,
  };
}
