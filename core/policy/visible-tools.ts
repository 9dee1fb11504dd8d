import { modelToolName, type AgentView, type ToolSpec } from '../definitions/context.ts';
import type { ToolDescriptor } from '../ports/tools.ts';
import { effectiveFlags } from './tool-flags.ts';
import { grantAllows } from './grants.ts';
import { modelToolSchema } from './model-tool-schema.ts';
import { toolPin } from './tool-pins.ts';

export interface ToolVisibility {
  /** What the model is shown: granted, declared by the org, offered by the server, unchanged since pinned. */
  tools: ToolSpec[];
  /** Offered by a server but not declared: denied until the org declares them. */
  undeclared: string[];
  /** Declared and granted but not offered by the server (renamed or removed upstream). */
  missing: string[];
  /** Changed since the org pinned them: disabled until the declaration is updated. */
  changed: string[];
  /** Where the server's annotations and the declaration disagreed. */
  notes: string[];
}

/**
 * The model is never shown a tool it may not call: this is the one place that decides
 * what it sees, from the grants, the org's declarations and what the server offers.
 */
export function visibleTools(view: AgentView, offered: Record<string, ToolDescriptor[]>): ToolVisibility {
  const visibility: ToolVisibility = { tools: [], undeclared: [], missing: [], changed: [], notes: [] };
  for (const grant of view.grants) {
    const server = view.servers[grant.server];
    if (!server) continue;
    const fromServer = new Map((offered[grant.server] ?? []).map((tool) => [tool.name, tool]));
    for (const name of fromServer.keys()) {
      if (!(name in server.tools)) visibility.undeclared.push(`${grant.server}.${name}`);
    }
    for (const [name, declared] of Object.entries(server.tools)) {
      if (!grantAllows(grant, name)) continue;
      const qualified = `${grant.server}.${name}`;
      const descriptor = fromServer.get(name);
      if (!descriptor) {
        visibility.missing.push(qualified);
        continue;
      }
      if (declared.pin !== undefined && declared.pin !== toolPin(descriptor)) {
        visibility.changed.push(qualified);
        continue;
      }
      const flags = effectiveFlags(qualified, declared, descriptor.annotations);
      visibility.notes.push(...flags.notes);
      visibility.tools.push({
        name: modelToolName(grant.server, name),
        server: grant.server,
        tool: name,
        description: declared.description ?? descriptor.description ?? '',
        inputSchema: modelToolSchema(descriptor.inputSchema),
        readOnly: flags.readOnly,
        destructive: flags.destructive,
        requiresApproval: flags.requiresApproval,
        rateLimitPerMinute: declared.rate_limit_per_minute,
      });
    }
  }
  return visibility;
}
