import type { Grant } from '../definitions/context.ts';
import type { McpServerDeclaration } from '../definitions/org.ts';
import { grantedTools } from './grants.ts';

/**
 * A checker that can change things is a second maker. It may only hold tools the org
 * declared `read_only: true` (and never one flagged destructive).
 */
export function writeToolsOf(grants: Grant[], servers: Record<string, McpServerDeclaration>): string[] {
  return grantedTools(grants, servers)
    .filter((tool) => !tool.readOnly || tool.destructive)
    .map((tool) => `${tool.server}.${tool.tool}`);
}
